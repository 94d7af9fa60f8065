/**
 * A fetch that remembers what it asked and what it was answered, so a failed step can print the
 * exact requests and the server's answers instead of only a client library's summary of them.
 * openid-client takes it as its customFetch, the MCP SDK's transport as its fetch.
 */

export type Exchange = { request: string; answer: string }

const exchanges: Exchange[] = []
const MAX_BODY = 600

const shorten = (text: string) => (text.length > MAX_BODY ? `${text.slice(0, MAX_BODY)}…` : text)

function bodyText(body: unknown): string {
  if (body === undefined || body === null) return ''
  if (typeof body === 'string') return body
  if (body instanceof URLSearchParams) return body.toString()
  return `(${Object.prototype.toString.call(body)})`
}

export async function tracedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const request = new Request(input, init)
  const sent = bodyText(init?.body)
  const entry: Exchange = { request: `${request.method} ${request.url}${sent ? ` ${shorten(sent)}` : ''}`, answer: '(no answer)' }
  exchanges.push(entry)
  try {
    const response = await fetch(input, init)
    const type = response.headers.get('content-type') ?? ''
    // An event stream stays open while the MCP session lives: reading a copy of it would never end.
    const body = type.includes('text/event-stream') ? '(event stream)' : shorten(await response.clone().text())
    const challenge = response.headers.get('www-authenticate')
    const location = response.headers.get('location')
    entry.answer = [`${response.status}`, challenge ? `WWW-Authenticate: ${challenge}` : '', location ? `Location: ${location}` : '', body]
      .filter(Boolean)
      .join(' ')
    return response
  } catch (error) {
    entry.answer = `(failed: ${(error as Error).message})`
    throw error
  }
}

/** How many exchanges happened so far: a step notes it first, to print only its own on failure. */
export const exchangeCount = () => exchanges.length

export const exchangesSince = (start: number): Exchange[] => exchanges.slice(start)
