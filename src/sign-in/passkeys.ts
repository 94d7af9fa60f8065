import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { hashRecoveryCode, newRecoveryCode, RECOVERY_CODES_PER_SET } from '../auth/recovery-codes'
import {
  type AuthenticationResponse,
  creationOptions,
  type RegistrationResponse,
  requestOptions,
  verifyRegistration,
} from '../auth/webauthn'
import { secondFactorsOf } from '../db/factors'
import { addPasskey, findPasskeyByCredentialId, listPasskeys, MAX_PASSKEYS } from '../db/passkeys'
import type { PasskeyRow } from '../db/schema'
import { problem } from '../errors'
import { accountSubject } from '../rate-limit/client'
import type { TokenPair } from '../schemas/token-pair'
import { admitAttempt, admitFromNetwork, refuseOnNetworkBudget } from './admit'
import { refuseSignIn } from './attempt'
import { completeSignIn } from './complete'
import { gateRefusal } from './gate'
import { issueChallenge, takeChallenge } from './passkey-challenges'
import { checkProof, type PasskeyProof, relyingPartyOf } from './proofs'
import { findSecondStep } from './second-step'

/*
 * The passkey ceremonies: each hands out options with a server-side challenge (one row, 5
 * minutes, single use, tied to the account and the session or sign-in step it was made for), and
 * takes the answer back. Assertions are checked in proofs.ts like every other proof.
 */

const descriptors = (rows: PasskeyRow[]) => rows.map((row) => ({ credentialId: row.credentialId, transports: row.transports }))

/** The passkey as this API shows it: its own id, never the credential's. */
export const passkeyView = (row: PasskeyRow) => ({
  id: row.id,
  name: row.name,
  created_at: row.createdAt.toISOString(),
  last_used_at: row.lastUsedAt?.toISOString() ?? null,
  backed_up: row.backedUp,
  transports: row.transports ?? [],
})

/** POST /users/me/passkeys/options: creation options for this session's user. */
export async function registrationOptions(c: Context<AppEnv>) {
  const { db, config, user, session } = c.var
  const existing = await listPasskeys(db, user.id)
  if (existing.length >= MAX_PASSKEYS) throw problem('passkey_limit')
  const { id, challenge } = await issueChallenge(c, { ceremony: 'registration', userId: user.id, boundTo: session.id })
  return { challenge_id: id, options: creationOptions(relyingPartyOf(config), user, challenge, descriptors(existing)) }
}

/**
 * POST /users/me/passkeys: checks the registration against its challenge and stores the
 * credential. The account's first second factor comes with ten recovery codes (shown once) and
 * ends the account's other sessions: a session opened with a stolen password must not outlive the
 * owner's move to two factors.
 * Failures spend from the network budget and are audited (`user.passkey_failed`).
 */
export async function registerPasskey(
  c: Context<AppEnv>,
  input: { challengeId: string; credential: RegistrationResponse; name?: string },
): Promise<{ passkey: ReturnType<typeof passkeyView>; recovery_codes?: string[] }> {
  const { db, config, user, session, client } = c.var
  const challenge = await takeChallenge(c, { id: input.challengeId, ceremony: 'registration', userId: user.id, boundTo: session.id })
  const verified = await verifyRegistration(relyingPartyOf(config), challenge, input.credential)
  const now = new Date()
  if (!verified.ok) {
    const details = { purpose: 'registration', reason: verified.reason }
    return refuseOnNetworkBudget(c, problem('passkey_failed'), {
      action: 'user.passkey_failed',
      actorId: user.id,
      targetId: user.id,
      details,
    })
  }
  const factors = await secondFactorsOf(db, user.id)
  const first = !factors.totp && factors.passkeys === 0
  const codes = first ? Array.from({ length: RECOVERY_CODES_PER_SET }, newRecoveryCode) : undefined
  const added = await addPasskey(db, {
    userId: user.id,
    credential: verified.value,
    name: input.name?.trim() || `Passkey ${factors.passkeys + 1}`,
    codeHashes: codes && (await Promise.all(codes.map(hashRecoveryCode))),
    keepSessionId: session.id,
    client,
    now,
  })
  if (added.outcome === 'exists') throw problem('passkey_exists')
  if (added.outcome === 'limit') throw problem('passkey_limit')
  return { passkey: passkeyView(added.passkey), ...(codes && added.codesWritten ? { recovery_codes: codes } : {}) }
}

/** POST /users/passkeys/login/options: a challenge for any discoverable credential, budgeted per network. */
export async function signInOptions(c: Context<AppEnv>) {
  await admitFromNetwork(c)
  const { id, challenge } = await issueChallenge(c, { ceremony: 'sign_in', userId: null, boundTo: null })
  return { challenge_id: id, options: requestOptions(relyingPartyOf(c.var.config), challenge) }
}

/**
 * POST /users/passkeys/login: a passwordless sign-in. The credential names the account (an
 * unknown one is throttled per network and audited like an unknown username); from there it is
 * the account's attempt, throttled by its failure streak. A user-verified passkey is two factors:
 * the session opens at `aal2` with no second step.
 */
export async function signInWithPasskey(
  c: Context<AppEnv>,
  input: { challengeId: string; credential: AuthenticationResponse },
): Promise<TokenPair> {
  const { db, config, client } = c.var
  // Independent reads, side by side: the challenge is spent whatever the credential turns out to be.
  const [challenge, found] = await Promise.all([
    takeChallenge(c, { id: input.challengeId, ceremony: 'sign_in', userId: null, boundTo: null }),
    findPasskeyByCredentialId(db, input.credential.rawId),
  ])
  if (!found) {
    const details = { reason: 'unknown_passkey', method: 'passkey' }
    return refuseOnNetworkBudget(c, problem('passkey_failed'), { action: 'user.login_failed', targetId: null, details })
  }
  const { user } = found
  const attempt = await admitAttempt(c, accountSubject(user.id), user)
  const proof: PasskeyProof = { kind: 'passkey', challenge, credential: input.credential, discoverable: true, stored: found.passkey }
  const checked = await checkProof({ db, config, now: attempt.at, client, signIn: true }, user, proof)
  if (!checked) return refuseSignIn(c, user, attempt, 'passkey_failed')
  const refusal = gateRefusal(config, user)
  if (refusal) return refuseSignIn(c, user, attempt, refusal, 'passkey')
  return completeSignIn(c, user, [checked], attempt.at)
}

/**
 * POST /users/login/mfa/passkey-options: request options for the second step, listing that
 * account's credentials only, with a challenge bound to this `mfa_token`.
 */
export async function secondStepOptions(c: Context<AppEnv>, mfaToken: string) {
  const { db, config } = c.var
  const found = await findSecondStep(c, mfaToken)
  const credentials = await listPasskeys(db, found.user.id)
  if (credentials.length === 0) throw problem('not_found', { context: 'This account has no passkey: use another method.' })
  const { id, challenge } = await issueChallenge(c, { ceremony: 'second_step', userId: found.user.id, boundTo: found.challenge.id })
  return { challenge_id: id, options: requestOptions(relyingPartyOf(config), challenge, descriptors(credentials)) }
}

/** POST /users/me/reauthenticate/passkey-options: request options for the caller's credentials, bound to this session. */
export async function reauthenticationOptions(c: Context<AppEnv>) {
  const { db, config, user, session } = c.var
  const credentials = await listPasskeys(db, user.id)
  if (credentials.length === 0) throw problem('not_found', { context: 'You have no passkey: re-authenticate with your password.' })
  const { id, challenge } = await issueChallenge(c, { ceremony: 'reauthentication', userId: user.id, boundTo: session.id })
  return { challenge_id: id, options: requestOptions(relyingPartyOf(config), challenge, descriptors(credentials)) }
}
