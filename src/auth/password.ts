import bcrypt from 'bcryptjs'
import type { Config } from '../config'
import { PBKDF2_MAX_ITERATIONS } from '../config'
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
const SALT_BYTES = 16
const HASH_BYTES = 32

type Parsed = { iterations: number; pepperId: string | undefined; salt: Uint8Array; hash: Uint8Array }

export type Verification = { valid: boolean; needsRehash: boolean }

export async function hashPassword(password: string, config: Config): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const hash = await derive(password, salt, config.pbkdf2Iterations, config)
  return format({ iterations: config.pbkdf2Iterations, pepperId: config.pepper?.id, salt, hash })
}

/**
 * Checks a password against a stored hash in constant time. `needsRehash` is true when the
 * password is right but was stored with other parameters (iterations, pepper) than today's.
 */
export async function verifyPassword(password: string, stored: string, config: Config): Promise<Verification> {
  if (stored.startsWith('$2')) return verifyBcrypt(password, stored, config)
  const parsed = parse(stored)
  const knownPepper =
    parsed?.pepperId !== undefined && (parsed.pepperId === config.pepper?.id || parsed.pepperId === config.pepper?.legacyId)
  const usable = parsed !== undefined && parsed.iterations <= PBKDF2_MAX_ITERATIONS && (parsed.pepperId === undefined || knownPepper)
  if (!usable) {
    // Same work as a real check, so an unusable record does not answer faster than a wrong password.
    await derive(password, randomBytes(SALT_BYTES), config.pbkdf2Iterations, config)
    return { valid: false, needsRehash: false }
  }
  const candidate = await derive(password, parsed.salt, parsed.iterations, parsed.pepperId ? config : undefined)
  const valid = candidate.length === parsed.hash.length && crypto.subtle.timingSafeEqual(candidate, parsed.hash)
  const needsRehash = valid && (parsed.iterations !== config.pbkdf2Iterations || parsed.pepperId !== config.pepper?.id)
  return { valid, needsRehash }
}

/**
 * For a login whose account does not exist: the same derivation at today's parameters, so timing
 * does not reveal which usernames exist. Always false.
 */
export async function verifyAgainstNobody(password: string, config: Config): Promise<Verification> {
  await derive(password, randomBytes(SALT_BYTES), config.pbkdf2Iterations, config)
  return { valid: false, needsRehash: false }
}

async function derive(password: string, salt: Uint8Array, iterations: number, peppered: Config | undefined) {
  let material: Uint8Array = utf8.encode(password.normalize('NFC'))
  if (peppered?.pepper) {
    material = new Uint8Array(await crypto.subtle.sign('HMAC', peppered.pepper.key, material))
  }
  const key = await crypto.subtle.importKey('raw', material, 'PBKDF2', false, ['deriveBits'])
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, key, HASH_BYTES * 8)
  return new Uint8Array(bits)
}

function format({ iterations, pepperId, salt, hash }: Parsed): string {
  const params = pepperId ? `i=${iterations},k=${pepperId}` : `i=${iterations}`
  return `$${SCHEME}$${VERSION}$${params}$${toBase64Url(salt)}$${toBase64Url(hash)}`
}

const storedPattern = /^\$pbkdf2-sha256\$v=1\$i=([1-9]\d{0,9})(?:,k=([A-Za-z0-9_-]{1,32}))?\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/

function parse(stored: string): Parsed | undefined {
  const match = storedPattern.exec(stored)
  if (!match) return undefined
  const salt = fromBase64Url(match[3]!)
  const hash = fromBase64Url(match[4]!)
  if (!salt || !hash || salt.length < SALT_BYTES || hash.length !== HASH_BYTES) return undefined
  return { iterations: Number(match[1]), pepperId: match[2], salt, hash }
}

/**
 * bcrypt as the Flask app this project began as stored it ($2a$/$2b$/$2y$, cost 4–15): checked with
 * bcryptjs (workerd has no native bcrypt), and always re-hashed to PBKDF2 when right, so an account
 * pays this once. The password is used as the user typed it (no NFC), as Flask-Bcrypt hashed it.
 * Anything else that starts like bcrypt is an unusable record and costs what a wrong password does.
 */
const BCRYPT = /^\$2[aby]\$(0[4-9]|1[0-5])\$[./A-Za-z0-9]{53}$/

async function verifyBcrypt(password: string, stored: string, config: Config): Promise<Verification> {
  if (!BCRYPT.test(stored)) {
    await derive(password, randomBytes(SALT_BYTES), config.pbkdf2Iterations, config)
    return { valid: false, needsRehash: false }
  }
  const valid = await bcrypt.compare(password, stored)
  return { valid, needsRehash: valid }
}
