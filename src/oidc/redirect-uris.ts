/*
 * Which redirect URIs a client may register (OAuth 2.1 §2.3, RFC 8252 for native apps). What is
 * registered is matched exactly later, so the rules apply here, once: a web client's URIs are
 * https (plain http only to this machine while PUBLIC_URL is itself local); a native client's are
 * loopback http (any port) or a private-use scheme (RFC 8252 §7); nobody's is javascript:, data: or another
 * scheme that runs or reads instead of navigating, carries a fragment, or embeds credentials.
 */

export type ApplicationType = 'web' | 'native'

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost'])
/** Schemes that run code, read local data or never navigate: refused however they are spelled. */
const DANGEROUS_SCHEMES = new Set([
  'javascript:',
  'data:',
  'vbscript:',
  'file:',
  'blob:',
  'about:',
  'filesystem:',
  'view-source:',
  'ws:',
  'wss:',
])
/** RFC 8252 §7.1: a private-use scheme is a reverse domain name (it has a dot). */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/

const MAX_URI_LENGTH = 2048

/**
 * Why `value` cannot be a redirect URI of a client of `applicationType`, in words for the
 * `errors` of a validation failure; undefined when it can. `development` is true while the issuer
 * itself is on this machine (PUBLIC_URL is http://localhost…), where a web client may use
 * http://localhost too.
 */
export function redirectUriProblem(value: string, applicationType: ApplicationType, development: boolean): string | undefined {
  if (value.length > MAX_URI_LENGTH) return `must be at most ${MAX_URI_LENGTH} characters`
  // A URL parser drops tabs and newlines and trims spaces and control characters: judge what a browser will follow.
  if ([...value].some((char) => char.charCodeAt(0) <= 0x20 || char.charCodeAt(0) === 0x7f))
    return 'must not contain spaces or control characters'
  if (/[^\x21-\x7e]/.test(value)) return 'must be written in ASCII (punycode for a domain, percent-encoding elsewhere)'
  if (!URL.canParse(value)) return 'must be an absolute URL'
  const url = new URL(value)
  // Stored as registered and matched as strings later: it must be what a browser will go to, as written.
  if (url.href !== value) return `must be written in its canonical form (${url.href.slice(0, 200)})`
  if (DANGEROUS_SCHEMES.has(url.protocol)) return `must not use the ${url.protocol} scheme`
  if (value.includes('#')) return 'must not have a fragment'
  if (url.username || url.password) return 'must not carry credentials'
  const loopback = url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)
  if (applicationType === 'native') {
    if (loopback || PRIVATE_USE_SCHEME.test(url.protocol)) return undefined
    return 'must be a loopback http URL (127.0.0.1, [::1] or localhost, any port) or a private-use scheme such as com.example.app:/callback'
  }
  if (url.protocol === 'https:') return undefined
  if (loopback && development) return undefined
  return development ? 'must be https, or http://localhost while the issuer is local' : 'must be https'
}
