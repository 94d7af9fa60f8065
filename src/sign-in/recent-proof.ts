import { needsTwoFactors, secondFactorsOf } from '../db/factors'
import type { UserRow } from '../db/schema'
import { recordAuthentication } from '../db/users'
import { problem, validationFailed } from '../errors'
import { methodsFor } from './account-methods'
import type { SignedIn, SignInContext } from './context'
import { proveAgain } from './reauthenticate'

/**
 * A sensitive action (one that changes how the account is signed in to or recovered) needs a
 * recent proof on the session that asks: its login or its latest re-authentication at most
 * REAUTH_MAX_AGE_SECONDS ago, at `aal2` when the account has a second factor. The check reads the
 * session row (requireAuth read it back), never the access token's claims, so a re-authentication
 * counts for the token already held.
 *
 * A route that takes the current password in its body counts that password as the proof; on an
 * account with a second factor it still needs the session's recent `aal2`.
 */
export async function requireRecentProof(ctx: SignInContext, account: SignedIn, options: { passwordInBody?: boolean } = {}): Promise<void> {
  const { db, config } = ctx
  const { user, session } = account
  const factors = await secondFactorsOf(db, user.id)
  const twoFactors = needsTwoFactors(factors)
  if (options.passwordInBody && !twoFactors) return
  const recent = ctx.now.getTime() - session.authTime.getTime() <= config.reauthMaxAgeSeconds * 1000
  if (recent && (!twoFactors || session.aal === 'aal2')) return
  const methods = methodsFor({ hasPassword: user.passwordHash !== null, factors }).reauthentication
  throw problem('reauthentication_required', {
    context: twoFactors
      ? 'Send your password and a code, or a passkey, to POST /users/me/reauthenticate.'
      : 'Send your password to POST /users/me/reauthenticate.',
    extensions: {
      required_aal: twoFactors ? 'aal2' : 'aal1',
      methods,
      max_age: config.reauthMaxAgeSeconds,
    },
  })
}

/**
 * Adding a way in (an authenticator app, a passkey, a linked identity) needs more than a recent
 * proof: the account's address must be verified, so nothing added by whoever held an address
 * before its owner proved it survives (db/first-proof.ts removes what was), and the current
 * password must come in the body when the account has one, so a stolen access token alone, however
 * fresh, never adds a way in. A wrong password is counted against the account's failure streak
 * and audited like a wrong login; a right one ends the streak but renews no proof on the session.
 */
export async function requireAddingWayIn(ctx: SignInContext, account: SignedIn, password: string | undefined): Promise<void> {
  const { user } = account
  await requireRecentProof(ctx, account)
  requireVerifiedAddress(user)
  if (user.passwordHash === null) return
  if (password === undefined) throw validationFailed([{ path: 'password', message: 'is required: this account has a password' }])
  const { at } = await proveAgain(ctx, user, [{ kind: 'password', password }], 'adding_way_in')
  await recordAuthentication(ctx.db, user.id, at)
}

/** A way in is added only to an account whose address its owner has proved (403 email_not_verified). */
export function requireVerifiedAddress(user: Pick<UserRow, 'emailVerified'>): void {
  if (!user.emailVerified)
    throw problem('email_not_verified', { context: 'Adding a way to sign in needs a verified address: follow the link mailed to it.' })
}
