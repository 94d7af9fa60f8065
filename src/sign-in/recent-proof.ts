import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { needsTwoFactors, secondFactorsOf } from '../db/factors'
import { problem } from '../errors'

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
export async function requireRecentProof(c: Context<AppEnv>, options: { passwordInBody?: boolean } = {}): Promise<void> {
  const { db, config, user, session } = c.var
  const factors = await secondFactorsOf(db, user.id)
  const twoFactors = needsTwoFactors(factors)
  if (options.passwordInBody && !twoFactors) return
  const recent = Date.now() - session.authTime.getTime() <= config.reauthMaxAgeSeconds * 1000
  if (recent && (!twoFactors || session.aal === 'aal2')) return
  // Only what the account can give: one without a password (a provider's) re-authenticates with a passkey.
  const password = user.passwordHash !== null
  const methods = twoFactors
    ? [
        ...(password && factors.totp ? ['password+totp'] : []),
        ...(password && factors.recoveryCodesLeft > 0 ? ['password+recovery_code'] : []),
        ...(factors.passkeys > 0 ? ['passkey'] : []),
      ]
    : password
      ? ['password']
      : factors.passkeys > 0
        ? ['passkey']
        : []
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
