import { needsTwoFactors, secondFactorsOf } from '../db/factors'
import { findUserById } from '../db/users'
import { problem } from '../errors'
import { accountSubject } from '../rate-limit/client'
import { admitAttempt, refuseOnNetworkBudget } from './admit'
import { refuseSignIn } from './attempt'
import { completeSignIn } from './complete'
import type { SignInContext } from './context'
import { gateRefusal } from './gate'
import type { SignInOutcome } from './outcome'
import { checkProviderCode } from './proofs'
import { askForSecondFactor } from './second-step'

/**
 * POST /users/oauth/token: the app exchanges the one-time code of a provider sign-in with its PKCE
 * verifier. A wrong, used or expired code (or verifier) is 400 invalid_challenge, audited and
 * spending from the network's budget. A provider sign-in is one factor: an account with a second
 * one gets 403 mfa_required, finished at POST /users/login/mfa; otherwise a pair with `amr` fed.
 */
export async function signInWithProviderCode(ctx: SignInContext, input: { code: string; codeVerifier: string }): Promise<SignInOutcome> {
  const { db, config, caller: client } = ctx
  const exchanged = await checkProviderCode({ db, config, client, now: ctx.now, signIn: true }, input.code, input.codeVerifier)
  const user = exchanged && (await findUserById(db, exchanged.userId))
  if (!exchanged || !user) {
    const details = { method: 'provider', reason: 'invalid_code' }
    return refuseOnNetworkBudget(ctx, problem('invalid_challenge', { context: 'Sign in with the provider again.' }), {
      action: 'user.login_failed',
      targetId: null,
      details,
    })
  }
  const attempt = await admitAttempt(ctx, accountSubject(user.id), user)
  // The callback checked the same gate; the account may have changed in the code's 60 seconds.
  const refusal = gateRefusal(config, user)
  if (refusal) return refuseSignIn(ctx, user, attempt, refusal, 'provider')
  if (needsTwoFactors(await secondFactorsOf(db, user.id))) return askForSecondFactor(ctx, user, exchanged.checked, attempt.at)
  return { kind: 'signed_in', grant: await completeSignIn(ctx, user, [exchanged.checked], attempt.at) }
}
