import type { Config } from '../config'
import type { UserRow } from '../db/schema'

/** Why an account whose proof checked out may still not be signed in to. */
export type GateRefusal = 'account_disabled' | 'email_not_verified'

/**
 * The account checks every way of signing in makes once its proof checked out (never before, so
 * only the right proof learns them): a disabled account, and an unverified address while
 * EMAIL_VERIFICATION_REQUIRED is on. One place, so no path forgets one.
 */
export function gateRefusal(config: Pick<Config, 'emailVerificationRequired'>, user: UserRow): GateRefusal | undefined {
  if (user.disabled) return 'account_disabled'
  if (config.emailVerificationRequired && !user.emailVerified) return 'email_not_verified'
  return undefined
}
