import { fromBase64Url, toBase64Url, utf8 } from '../lib/encoding'

/*
 * Secrets the API must read back (a TOTP factor's shared secret) are stored encrypted:
 * AES-256-GCM under a key derived from SECRET_KEY, with a fresh 96-bit IV each time and the
 * owning account's id as associated data, so a ciphertext copied to another account's row does
 * not decrypt. Stored as `<key id>.<iv>.<ciphertext>` (base64url); the key id says which key
 * sealed it, so SECRET_KEY_PREVIOUS still opens what the previous key sealed while the new one
 * seals everything new.
 */

export type SealingKey = { id: string; key: CryptoKey }

const IV_BYTES = 12

export async function seal(keys: readonly SealingKey[], plaintext: Uint8Array, owner: string): Promise<string> {
  const [current] = keys
  if (!current) throw new Error('no sealing key')
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))
  const sealed = await crypto.subtle.encrypt(
    { name: 'AES-GCM', iv, additionalData: utf8.encode(owner) },
    current.key,
    plaintext as Uint8Array<ArrayBuffer>,
  )
  return `${current.id}.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(sealed))}`
}

/** The plaintext, or undefined when no configured key sealed it or it was tampered with. */
export async function open(keys: readonly SealingKey[], stored: string, owner: string): Promise<Uint8Array | undefined> {
  const [id, ivText, sealedText] = stored.split('.')
  const key = keys.find((candidate) => candidate.id === id)
  const iv = ivText ? fromBase64Url(ivText) : undefined
  const sealed = sealedText ? fromBase64Url(sealedText) : undefined
  if (!key || !iv || !sealed) return undefined
  try {
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: iv as Uint8Array<ArrayBuffer>, additionalData: utf8.encode(owner) },
      key.key,
      sealed as Uint8Array<ArrayBuffer>,
    )
    return new Uint8Array(plain)
  } catch {
    return undefined
  }
}
