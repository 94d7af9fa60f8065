/** base64url without padding (RFC 4648 §5), as JWTs, JWKs and our stored hashes use it. */
export function toBase64Url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

const base64UrlPattern = /^[A-Za-z0-9_-]*$/

/** Decodes strict unpadded base64url; returns undefined for anything else. */
export function fromBase64Url(text: string): Uint8Array | undefined {
  if (!base64UrlPattern.test(text) || text.length % 4 === 1) return undefined
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='))
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0))
  // Reject non-canonical encodings (stray low bits in the last character).
  return toBase64Url(bytes) === text ? bytes : undefined
}

export const utf8 = new TextEncoder()
export const fromUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(length))
}

export async function sha256(data: Uint8Array<ArrayBuffer> | string): Promise<Uint8Array> {
  const bytes = typeof data === 'string' ? utf8.encode(data) : data
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
}
