import { toBase64Url } from '../lib/encoding'
import type { SealingKey } from './secret-box'

/*
 * Keys for one purpose each, derived from a configured secret (HKDF-SHA-256 with the purpose as its
 * info), so one SECRET_KEY serves every purpose without any two sharing a key.
 */

const encoder = new TextEncoder()

/** An HMAC-SHA-256 key made of the bytes themselves (a pepper). */
export const importHmacKey = (bytes: Uint8Array) =>
  crypto.subtle.importKey('raw', bytes as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])

const hkdfBase = (secret: Uint8Array) =>
  crypto.subtle.importKey('raw', secret as Uint8Array<ArrayBuffer>, 'HKDF', false, ['deriveKey', 'deriveBits'])
const hkdf = (purpose: string) => ({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(32), info: encoder.encode(purpose) })

/** A key for one purpose, from a configured secret: HKDF-SHA-256 with the purpose as its info. */
export async function deriveHmacKey(secret: Uint8Array, purpose: string): Promise<CryptoKey> {
  return crypto.subtle.deriveKey(hkdf(purpose), await hkdfBase(secret), { name: 'HMAC', hash: 'SHA-256', length: 256 }, false, ['sign'])
}

/** An AES-256-GCM key for one purpose, and a public id for it (stored beside what it sealed). */
export async function sealingKey(secret: Uint8Array, purpose: string): Promise<SealingKey> {
  const base = await hkdfBase(secret)
  const key = await crypto.subtle.deriveKey(hkdf(purpose), base, { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt'])
  const id = new Uint8Array(await crypto.subtle.deriveBits(hkdf(`${purpose} key id`), base, 48))
  return { id: toBase64Url(id), key }
}
