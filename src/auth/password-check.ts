import bcrypt from 'bcryptjs'
import { randomBytes } from '../lib/encoding'
import { derive, type PasswordSettings, PBKDF2_MAX_ITERATIONS, parse, SALT_BYTES, type Verification } from './password'

/*
 * Checking a password is a proof, and a proof is checked in one place: only the sign-in layer
 * imports this module (a rule of `npm run lint`). Making a hash for a new password is
 * ./password.ts, which routes may use.
 */

/** What checking a password needs: hashing's settings, and the bcrypt cost an imported hash may have. */
export type PasswordCheckSettings = PasswordSettings & { bcryptMaxCost: number }

/**
 * Checks a password against a stored hash in constant time. `needsRehash` is true when the
 * password is right but was stored with other parameters (iterations, pepper) than today's.
 */
export async function verifyPassword(password: string, stored: string, settings: PasswordCheckSettings): Promise<Verification> {
  if (stored.startsWith('$2')) return verifyBcrypt(password, stored, settings)
  const parsed = parse(stored)
  const usable =
    parsed !== undefined &&
    parsed.iterations <= PBKDF2_MAX_ITERATIONS &&
    (parsed.pepperId === undefined || parsed.pepperId === settings.pepper?.id)
  if (!usable) return verifyAgainstNobody(password, settings)
  const candidate = await derive(password, parsed.salt, parsed.iterations, parsed.pepperId ? settings.pepper : undefined)
  const valid = candidate.length === parsed.hash.length && crypto.subtle.timingSafeEqual(candidate, parsed.hash)
  const needsRehash = valid && (parsed.iterations !== settings.pbkdf2Iterations || parsed.pepperId !== settings.pepper?.id)
  return { valid, needsRehash }
}

/**
 * For an account that does not exist, has no password or holds an unusable record: the same
 * derivation at today's parameters, so timing does not tell these apart from a wrong password.
 * Always false.
 */
export async function verifyAgainstNobody(password: string, settings: PasswordSettings): Promise<Verification> {
  await derive(password, randomBytes(SALT_BYTES), settings.pbkdf2Iterations, settings.pepper)
  return { valid: false, needsRehash: false }
}

/**
 * bcrypt as the Flask app this project began as stored it ($2a$/$2b$/$2y$, cost 4–15): checked with
 * bcryptjs (workerd has no native bcrypt), and always re-hashed to PBKDF2 when right, so an account
 * pays this once. The password is used as the user typed it (no NFC), as Flask-Bcrypt hashed it.
 * A hash above BCRYPT_MAX_COST, or anything else that starts like bcrypt, is an unusable record and
 * costs what a wrong password does: its owner resets the password.
 */
const BCRYPT = /^\$2[aby]\$(0[4-9]|1[0-5])\$[./A-Za-z0-9]{53}$/

async function verifyBcrypt(password: string, stored: string, settings: PasswordCheckSettings): Promise<Verification> {
  const cost = BCRYPT.exec(stored)?.[1]
  // Above BCRYPT_MAX_COST one guess would cost seconds of CPU at the edge: an unusable record.
  if (cost === undefined || Number(cost) > settings.bcryptMaxCost) return verifyAgainstNobody(password, settings)
  const valid = await bcrypt.compare(password, stored)
  return { valid, needsRehash: valid }
}
