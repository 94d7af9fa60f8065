import { fromBase64Url, randomBytes, toBase64Url, utf8 } from '../lib/encoding'

/*
 * Stored form, PHC-style and self-describing so the parameters can change later:
 *
 *   $pbkdf2-sha256$v=1$i=100000$<salt>$<hash>            no pepper
 *   $pbkdf2-sha256$v=1$i=100000,k=2026a$<salt>$<hash>    peppered with the pepper labelled k (PASSWORD_PEPPER_ID)
 *
 * salt (16 bytes) and hash (32 bytes) are unpadded base64url.
 */
const SCHEME = 'pbkdf2-sha256'
const VERSION = 'v=1'
export const SALT_BYTES = 16
const HASH_BYTES = 32

type Parsed = { iterations: number; pepperId: string | undefined; salt: Uint8Array; hash: Uint8Array }

export type Verification = { valid: boolean; needsRehash: boolean }

/** Cloudflare's production runtime refuses PBKDF2 above this; local workerd does not, so we do. */
export const PBKDF2_MAX_ITERATIONS = 100_000

/** A pepper as a password hash uses it: the key, and the label stored with what it keyed. */
export type Pepper = { id: string; key: CryptoKey }

/** What hashing and checking a password needs of the configuration (which satisfies it). */
export type PasswordSettings = { pbkdf2Iterations: number; pepper: Pepper | undefined }

export async function hashPassword(password: string, settings: PasswordSettings): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const hash = await derive(password, salt, settings.pbkdf2Iterations, settings.pepper)
  return format({ iterations: settings.pbkdf2Iterations, pepperId: settings.pepper?.id, salt, hash })
}

export async function derive(password: string, salt: Uint8Array, iterations: number, pepper: Pepper | undefined) {
  let material: Uint8Array = utf8.encode(password.normalize('NFC'))
  if (pepper) material = new Uint8Array(await crypto.subtle.sign('HMAC', pepper.key, material))
  const key = await crypto.subtle.importKey('raw', material, 'PBKDF2', false, ['deriveBits'])
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, HASH_BYTES * 8)
  return new Uint8Array(bits)
}

function format({ iterations, pepperId, salt, hash }: Parsed): string {
  const params = pepperId ? `i=${iterations},k=${pepperId}` : `i=${iterations}`
  return `$${SCHEME}$${VERSION}$${params}$${toBase64Url(salt)}$${toBase64Url(hash)}`
}

const storedPattern = /^\$pbkdf2-sha256\$v=1\$i=([1-9]\d{0,9})(?:,k=([A-Za-z0-9_-]{1,32}))?\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/

export function parse(stored: string): Parsed | undefined {
  const match = storedPattern.exec(stored)
  if (!match) return undefined
  const salt = fromBase64Url(match[3]!)
  const hash = fromBase64Url(match[4]!)
  if (!salt || !hash || salt.length < SALT_BYTES || hash.length !== HASH_BYTES) return undefined
  return { iterations: Number(match[1]), pepperId: match[2], salt, hash }
}
