import { randomBytes, sha256, toBase64Url } from '../lib/encoding'

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
