import { bodyLimit } from 'hono/body-limit'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { problem } from '../errors'

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const JSON_MEDIA_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;.*)?$/i

/** Bodies over `maxBytes` are 413, whether declared by Content-Length or found while reading a chunked one. */
export function limitBody(maxBytes: number) {
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new Error('limitBody: maxBytes must be positive')
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw problem('payload_too_large')
    },
  })
}

/**
 * Every body is JSON (415 otherwise) that parses (400 invalid_json otherwise), checked before
 * routing so each route only states its schema. A body typed as anything else is refused unread. A request with no body and no Content-Type is
 * let through: the route's validator reads it as `{}` and names the missing fields. The text is
 * read with `c.req.text()`, which Hono keeps, so the validator parses it without a second read; the
 * parsed value is also left in `c.var.requestJson` for hooks that see a failed validation.
 */
export function jsonOnly() {
  return createMiddleware<AppEnv>(async function requireJson(c, next) {
    if (!METHODS_WITH_BODY.has(c.req.method) || c.req.raw.body === null) return next()
    const contentType = c.req.header('Content-Type')
    // A body that says it is something else is refused unread.
    if (contentType !== undefined && !JSON_MEDIA_TYPE.test(contentType)) throw problem('unsupported_media_type')
    const text = await c.req.text()
    if (text.length === 0 && contentType === undefined) return next()
    if (contentType === undefined) throw problem('unsupported_media_type')
    try {
      c.set('requestJson', JSON.parse(text))
    } catch {
      throw problem('invalid_json')
    }
    return next()
  })
}
