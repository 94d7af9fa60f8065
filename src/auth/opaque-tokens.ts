import { randomBytes, sha256, toBase64Url, utf8 } from '../lib/encoding'

/** 256 bits from the CSPRNG; the contract asks for at least 128. */
const TOKEN_BYTES = 32

/** A refresh token, or a token in a reset or verification link. */
export function newOpaqueToken(): string {
  return toBase64Url(randomBytes(TOKEN_BYTES))
}

/**
 * What the database keeps instead of the token. A fast hash is enough: the token is 256 random
 * bits, so there is nothing to brute-force, and a stolen table yields no usable token.
 */
export async function hashOpaqueToken(token: string): Promise<string> {
  return toBase64Url(await sha256(token))
}

/**
 * The refresh token that replaces `presented` at a rotation: 256 bits of HMAC under a server key,
 * so nobody without the key can predict it, and a retry of the same refresh (a lost response)
 * gets the very same token back instead of a second one.
 */
export async function rotatedRefreshToken(key: CryptoKey, presented: string): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8.encode(`refresh:${presented}`))))
}
