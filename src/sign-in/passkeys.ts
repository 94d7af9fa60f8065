import { type AuthenticationResponse, requestOptions } from '../auth/webauthn'
import { credentialDescriptors, findPasskeyByCredentialId, listPasskeys } from '../db/passkeys'
import type { SessionRow, UserRow } from '../db/schema'
import { problem } from '../errors'
import { accountSubject } from '../rate-limit/client'
import { admitAttempt, admitFromNetwork, refuseOnNetworkBudget } from './admit'
import { refuseSignIn } from './attempt'
import { completeSignIn } from './complete'
import type { SignInContext } from './context'
import { gateRefusal } from './gate'
import type { Grant } from './grant'
import { issueChallenge, takeChallenge } from './passkey-challenges'
import { checkProof, type PasskeyProof, relyingPartyOf } from './proofs'
import { findSecondStep } from './second-step'

/*
 * Signing in with a passkey: each ceremony hands out options with a server-side challenge (one
 * row, 5 minutes, single use, tied to the account and the session or sign-in step it was made
 * for), and takes the answer back. Assertions are checked in proofs.ts like every other proof;
 * adding a passkey is enrolment (factors/passkeys.ts).
 */

/** POST /users/passkeys/login/options: a challenge for any discoverable credential, budgeted per network. */
export async function signInOptions(ctx: SignInContext) {
  await admitFromNetwork(ctx)
  const { id, challenge } = await issueChallenge(ctx, { ceremony: 'sign_in', userId: null, boundTo: null })
  return { challenge_id: id, options: requestOptions(relyingPartyOf(ctx.config), challenge) }
}

/**
 * POST /users/passkeys/login: a passwordless sign-in. The credential names the account (an
 * unknown one is throttled per network and audited like an unknown username); from there it is
 * the account's attempt, throttled by its failure streak. A user-verified passkey is two factors:
 * the session opens at `aal2` with no second step.
 */
export async function signInWithPasskey(
  ctx: SignInContext,
  input: { challengeId: string; credential: AuthenticationResponse },
): Promise<Grant> {
  const { db, config, caller: client } = ctx
  // Independent reads, side by side: the challenge is spent whatever the credential turns out to be.
  const [challenge, found] = await Promise.all([
    takeChallenge(ctx, { id: input.challengeId, ceremony: 'sign_in', userId: null, boundTo: null }),
    findPasskeyByCredentialId(db, input.credential.rawId),
  ])
  if (!found) {
    const details = { reason: 'unknown_passkey', method: 'passkey' }
    return refuseOnNetworkBudget(ctx, problem('passkey_failed'), { action: 'user.login_failed', targetId: null, details })
  }
  const { user } = found
  const attempt = await admitAttempt(ctx, accountSubject(user.id), user)
  const proof: PasskeyProof = { kind: 'passkey', challenge, credential: input.credential, discoverable: true, stored: found.passkey }
  const checked = await checkProof({ db, config, now: attempt.at, client, signIn: true }, user, proof)
  if (!checked) return refuseSignIn(ctx, user, attempt, 'passkey_failed')
  const refusal = gateRefusal(config, user)
  if (refusal) return refuseSignIn(ctx, user, attempt, refusal, 'passkey')
  // A refused batch: a rival assertion advanced the counter first (or the passkey went meanwhile).
  return completeSignIn(ctx, user, [checked], attempt.at, { refused: () => refuseSignIn(ctx, user, attempt, 'passkey_failed') })
}

/**
 * POST /users/login/mfa/passkey-options: request options for the second step, listing that
 * account's credentials only, with a challenge bound to this `mfa_token`.
 */
export async function secondStepOptions(ctx: SignInContext, mfaToken: string) {
  const { db, config } = ctx
  const found = await findSecondStep(ctx, mfaToken)
  const credentials = await listPasskeys(db, found.user.id)
  if (credentials.length === 0) throw problem('not_found', { context: 'This account has no passkey: use another method.' })
  const { id, challenge } = await issueChallenge(ctx, { ceremony: 'second_step', userId: found.user.id, boundTo: found.challenge.id })
  return { challenge_id: id, options: requestOptions(relyingPartyOf(config), challenge, credentialDescriptors(credentials)) }
}

/** POST /users/me/reauthenticate/passkey-options: request options for the caller's credentials, bound to this session. */
export async function reauthenticationOptions(ctx: SignInContext, account: { user: UserRow; session: SessionRow }) {
  const { db, config } = ctx
  const { user, session } = account
  const credentials = await listPasskeys(db, user.id)
  if (credentials.length === 0) throw problem('not_found', { context: 'You have no passkey: re-authenticate with your password.' })
  const { id, challenge } = await issueChallenge(ctx, { ceremony: 'reauthentication', userId: user.id, boundTo: session.id })
  return { challenge_id: id, options: requestOptions(relyingPartyOf(config), challenge, credentialDescriptors(credentials)) }
}
