import { randomBytes, sha256, toBase64Url } from '../lib/encoding'

/** 256 bits from the CSPRNG; the contract asks for at least 128. */
const REFRESH_TOKEN_BYTES = 32

export function newRefreshToken(): string {
  return toBase64Url(randomBytes(REFRESH_TOKEN_BYTES))
}

/**
 * What the database keeps instead of the token. A fast hash is enough: the token is 256 random
 * bits, so there is nothing to brute-force, and a stolen table yields no usable token.
 */
export async function hashRefreshToken(token: string): Promise<string> {
  return toBase64Url(await sha256(token))
}
