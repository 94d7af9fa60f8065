import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { recordEvent } from '../db/audit'
import { needsTwoFactors, secondFactorsOf } from '../db/factors'
import { findUserById } from '../db/users'
import { problem, rateLimited } from '../errors'
import { accountSubject, admitRequest } from '../rate-limit/client'
import type { TokenPair } from '../schemas/token-pair'
import { admitAttempt } from './admit'
import { refuseSignIn } from './attempt'
import { completeSignIn } from './complete'
import { checkProviderCode } from './proofs'
import { askForSecondFactor } from './second-step'

/**
 * POST /users/oauth/token: the app exchanges the one-time code of a provider sign-in with its PKCE
 * verifier. A wrong, used or expired code (or verifier) is 400 invalid_challenge, audited and
 * spending from the network's budget. A provider sign-in is one factor: an account with a second
 * one gets 403 mfa_required, finished at POST /users/login/mfa; otherwise a pair with `amr` fed.
 */
export async function signInWithProviderCode(c: Context<AppEnv>, input: { code: string; codeVerifier: string }): Promise<TokenPair> {
  const { db, config, client } = c.var
  const exchanged = await checkProviderCode({ db, config, client, now: new Date(), signIn: true }, input.code, input.codeVerifier)
  const user = exchanged && (await findUserById(db, exchanged.userId))
  if (!exchanged || !user) {
    const admission = await admitRequest(c)
    const details = { method: 'provider', reason: 'invalid_code' }
    await recordEvent(db, { action: 'user.login_failed', targetId: null, details }, client, new Date())
    if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)
    throw problem('invalid_challenge', { context: 'Sign in with the provider again.' })
  }
  const attempt = await admitAttempt(c, accountSubject(user.id), user)
  if (user.disabled) return refuseSignIn(c, user, attempt, 'account_disabled', 'provider')
  if (needsTwoFactors(await secondFactorsOf(db, user.id))) return askForSecondFactor(c, user, exchanged.checked, attempt.at)
  return completeSignIn(c, user, [exchanged.checked], attempt.at)
}
