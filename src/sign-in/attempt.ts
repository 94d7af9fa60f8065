import { recordEvent } from '../db/audit'
import type { UserRow } from '../db/schema'
import { findUserByLogin, normaliseLoginIdentifier } from '../db/users'
import { problem } from '../errors'
import { accountSubject } from '../rate-limit/client'
import { LOCK_AFTER_FAILURES } from '../rate-limit/policy'
import { type Attempt, admitAttempt } from './admit'
import { completeSignIn } from './complete'
import type { SignInContext } from './context'
import { gateRefusal } from './gate'
import type { SignInOutcome } from './outcome'
import { checkProof } from './proofs'
import { askForSecondFactor } from './second-step'

type FailureReason = 'unknown_account' | 'wrong_password' | 'passkey_failed' | 'account_disabled' | 'email_not_verified'

/**
 * A failed sign-in, audited alike whether or not the account exists (so both do the same work),
 * then answered. Only with the right password may the answer reveal that the account exists.
 */
export async function refuseSignIn(
  ctx: SignInContext,
  user: UserRow | undefined,
  attempt: Attempt,
  reason: FailureReason,
  method: 'password' | 'passkey' | 'provider' = reason === 'passkey_failed' ? 'passkey' : 'password',
): Promise<never> {
  const locked = attempt.failuresSoFar + 1 === LOCK_AFTER_FAILURES
  const details = { reason, ...(method !== 'password' ? { method } : {}), ...(locked ? { locked: true } : {}) }
  await recordEvent(ctx.db, { action: 'user.login_failed', targetId: user?.id ?? null, details }, ctx.caller, attempt.at)
  if (reason === 'account_disabled' || reason === 'email_not_verified' || reason === 'passkey_failed') throw problem(reason)
  throw problem('invalid_credentials')
}

/**
 * A login with a username (or email) and a password: throttled by the identifier's subject, the
 * password checked (or the same work done for an account that does not exist), every failure
 * audited, then completed into a session. An account's username and email share one failure
 * streak; a name with no account has its own.
 */
export async function signInWithPassword(ctx: SignInContext, input: { identifier: string; password: string }): Promise<SignInOutcome> {
  const { db, config } = ctx
  const identifier = normaliseLoginIdentifier(input.identifier)
  const user = await findUserByLogin(db, identifier)
  const subject = user ? accountSubject(user.id) : ({ kind: 'name', name: `${identifier.kind}:${identifier.value}` } as const)
  const attempt = await admitAttempt(ctx, subject, user)
  const proof = { kind: 'password', password: input.password } as const
  const checked = await checkProof({ db, config, now: attempt.at, client: ctx.caller, signIn: true }, user, proof)
  if (!user) return refuseSignIn(ctx, user, attempt, 'unknown_account')
  if (!checked) return refuseSignIn(ctx, user, attempt, 'wrong_password')
  const refusal = gateRefusal(config, user)
  if (refusal) return refuseSignIn(ctx, user, attempt, refusal)
  // A password is one factor: an account with a second one finishes at POST /users/login/mfa.
  if (user.secondFactor) return askForSecondFactor(ctx, user, checked, attempt.at)
  return { kind: 'signed_in', grant: await completeSignIn(ctx, user, [checked], attempt.at) }
}
