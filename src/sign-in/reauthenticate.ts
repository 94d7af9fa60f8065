import { assuranceOf } from '../auth/assurance'
import type { AuthenticationResponse } from '../auth/webauthn'
import { recordEvent } from '../db/audit'
import { needsTwoFactors, secondFactorsOf } from '../db/factors'
import type { UserRow } from '../db/schema'
import { allOf, guardHolds, reauthenticateSession } from '../db/sessions'
import { problem, validationFailed } from '../errors'
import { accountSubject } from '../rate-limit/client'
import { admitAttempt } from './admit'
import type { SignedIn, SignInContext } from './context'
import { accessTokenFor } from './grant'
import { takeChallenge } from './passkey-challenges'
import { type CheckedProof, checkProof, type Proof, type SecondFactorProof } from './proofs'

/** Why a signed-in user is asked to prove who they are again; recorded with a failure. */
export type ReauthPurpose = 'password_change' | 'account_deletion' | 'reauthentication' | 'adding_way_in'

/**
 * Proofs given on an existing session (before a change that needs them), checked in order as one
 * attempt: throttled by the account's failure streak like a login (429 while backing off, before
 * any proof work), each failure audited: a wrong password answers 403 invalid_password, a wrong
 * second factor 401 invalid_mfa_code. Returns the checked proofs and their time, for the write
 * that acts on them (which must record that time as the account's last_auth_at).
 */
export async function proveAgain(
  ctx: SignInContext,
  user: UserRow,
  proofs: Proof[],
  purpose: ReauthPurpose,
): Promise<{ checked: CheckedProof[]; at: Date }> {
  const { db, config, caller: client } = ctx
  const attempt = await admitAttempt(ctx, accountSubject(user.id), user)
  const checked: CheckedProof[] = []
  for (const proof of proofs) {
    const result = await checkProof({ db, config, now: attempt.at, client }, user, proof)
    if (!result) {
      // A passkey stands alone (two factors): its failure is the re-authentication's, as a password's is.
      const secondFactor = proof.kind === 'totp' || proof.kind === 'recovery_code'
      const action = secondFactor ? 'user.mfa_failed' : 'user.reauth_failed'
      await recordEvent(db, { action, actorId: user.id, targetId: user.id, details: { purpose, method: proof.kind } }, client, attempt.at)
      throw problem(secondFactor ? 'invalid_mfa_code' : proof.kind === 'passkey' ? 'passkey_failed' : 'invalid_password')
    }
    checked.push(result)
  }
  return { checked, at: attempt.at }
}

/**
 * POST /users/me/reauthenticate: the password, and the second factor when the account has one,
 * or a passkey alone (two factors), make the session's proof now. The session row takes the new assurance (sensitive actions read
 * it there, so the access token already held counts too), and a new access token carries it.
 * On an account with a second factor the password alone is a validation error that changes
 * nothing and costs no attempt.
 */
export async function reauthenticateWith(
  ctx: SignInContext,
  account: SignedIn,
  input:
    | { password: string; secondFactor?: Exclude<SecondFactorProof, { kind: 'passkey' }> }
    | { passkey: { challengeId: string; credential: AuthenticationResponse } },
) {
  const { db, config, caller: client } = ctx
  const { user, session } = account
  let proofs: Proof[]
  if ('passkey' in input) {
    const { challengeId, credential } = input.passkey
    const challenge = await takeChallenge(ctx, {
      id: challengeId,
      ceremony: 'reauthentication',
      userId: user.id,
      boundTo: session.id,
    })
    proofs = [{ kind: 'passkey', challenge, credential }]
  } else {
    if (needsTwoFactors(await secondFactorsOf(db, user.id)) && !input.secondFactor) {
      throw validationFailed([
        { path: 'code', message: 'this account has a second factor: send code or recovery_code with the password, or use a passkey' },
      ])
    }
    proofs = [{ kind: 'password', password: input.password }, ...(input.secondFactor ? [input.secondFactor] : [])]
  }
  const { checked, at } = await proveAgain(ctx, user, proofs, 'reauthentication')
  const assurance = assuranceOf(
    checked.map((proof) => proof.kind),
    at,
  )
  const proof = allOf(checked.map((proof) => proof.write))
  const updated = await reauthenticateSession(db, { sessionId: session.id, userId: user.id, assurance, proof, client, now: at })
  if (!updated) {
    // A rival assertion advanced the passkey's counter first: a failed re-authentication, audited.
    if ('passkey' in input && !(await guardHolds(db, proof.guard))) {
      const details = { purpose: 'reauthentication', method: 'passkey' }
      await recordEvent(db, { action: 'user.reauth_failed', actorId: user.id, targetId: user.id, details }, client, at)
    }
    // Otherwise the password changed (or the session ended) between the check and the write.
    throw problem('passkey' in input ? 'passkey_failed' : 'invalid_password')
  }
  return {
    access_token: await accessTokenFor(config, user, { id: session.id, ...assurance }, at),
    token_type: 'Bearer' as const,
    expires_in: config.accessTokenTtlSeconds,
    auth_time: assurance.authTime.toISOString(),
    aal: assurance.aal,
    amr: assurance.amr,
  }
}
