import { sha256, toBase64Url } from '../lib/encoding'

/*
 * Recovery codes: ten per set, each 80 bits from the CSPRNG written as 16 base32 characters in
 * four groups (`k7m2-x9qa-...`). 80 random bits need no slow hash: SHA-256 is stored, never the
 * code, and a guess is throttled like any second factor.
 */

export const RECOVERY_CODES_PER_SET = 10
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'

export function newRecoveryCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10))
  let bits = 0
  let value = 0
  let out = ''
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  return out.match(/.{4}/g)!.join('-')
}

/** The form a typed code is compared in: lower case, without spaces or dashes. */
export const normaliseRecoveryCode = (code: string) => code.toLowerCase().replace(/[\s-]/g, '')

export async function hashRecoveryCode(code: string): Promise<string> {
  return toBase64Url(await sha256(`recovery:${normaliseRecoveryCode(code)}`))
}
