import { createMiddleware } from 'hono/factory'
import { fromUtf8 } from '../encoding'
import type { AppEnv } from '../env'
import { ApiError } from '../errors'

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const JSON_MEDIA_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;.*)?$/i

/**
 * Reads every request body once, before routing: at most `maxBytes` (413), only JSON (415), and
 * parseable (400 invalid_json). The parsed value is left in Hono's body cache, where the route's
 * validator finds it, so each route only states its schema.
 */
export function jsonBody(options: { maxBytes: number }) {
  if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes <= 0) throw new Error('jsonBody: maxBytes must be positive')
  const { maxBytes } = options

  return createMiddleware<AppEnv>(async function readJsonBody(c, next) {
    if (!METHODS_WITH_BODY.has(c.req.method) || c.req.raw.body === null) return next()

    const declaredLength = Number(c.req.header('Content-Length') ?? NaN)
    if (declaredLength > maxBytes) throw tooLarge(maxBytes)
    const bytes = await readAtMost(c.req.raw.body, maxBytes)
    const contentType = c.req.header('Content-Type')
    const text = bytes.length === 0 && contentType === undefined ? '' : decodeJson(bytes, contentType)
    // The stream is consumed: Hono's validators read the body from its cache (promises, despite
    // the declared type) instead.
    Object.assign(c.req.bodyCache, { arrayBuffer: Promise.resolve(bytes.buffer), text: Promise.resolve(text) })
    return next()
  })
}

/** The body as text, once it is known to be JSON by its media type and by parsing. */
function decodeJson(bytes: Uint8Array, contentType: string | undefined): string {
  if (contentType === undefined || !JSON_MEDIA_TYPE.test(contentType)) {
    throw new ApiError(415, 'unsupported_media_type', 'Send the body as JSON with Content-Type: application/json.')
  }
  try {
    const text = fromUtf8.decode(bytes)
    JSON.parse(text)
    return text
  } catch {
    throw new ApiError(400, 'invalid_json', 'The request body is not valid JSON.')
  }
}

const tooLarge = (maxBytes: number) => new ApiError(413, 'payload_too_large', `The request body must be at most ${maxBytes / 1024} KiB.`)

// Counts as it reads, so a body without Content-Length (chunked) is cut off at the limit too.
async function readAtMost(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel()
      throw tooLarge(maxBytes)
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}
