import { creationOptions, type RegistrationResponse, verifyRegistration } from '../auth/webauthn'
import { secondFactorsOf } from '../db/factors'
import { addPasskey, credentialDescriptors, listPasskeys, MAX_PASSKEYS } from '../db/passkeys'
import type { PasskeyRow } from '../db/schema'
import { problem } from '../errors'
import { refuseOnNetworkBudget } from '../sign-in/admit'
import type { SignedIn, SignInContext } from '../sign-in/context'
import { issueChallenge, takeChallenge } from '../sign-in/passkey-challenges'
import { relyingPartyOf } from '../sign-in/proofs'
import { newRecoveryCodeSet } from './recovery-codes'

/*
 * Adding a passkey: creation options with a server-side challenge bound to this session, and the
 * authenticator's answer checked against the configured relying party and stored. Signing in with
 * one is the sign-in layer's (sign-in/passkeys.ts).
 */

/** POST /users/me/passkeys/options: creation options for this session's user. */
export async function registrationOptions(ctx: SignInContext, account: SignedIn) {
  const { db, config } = ctx
  const { user, session } = account
  const existing = await listPasskeys(db, user.id)
  if (existing.length >= MAX_PASSKEYS) throw problem('passkey_limit')
  const { id, challenge } = await issueChallenge(ctx, { ceremony: 'registration', userId: user.id, boundTo: session.id })
  return { challenge_id: id, options: creationOptions(relyingPartyOf(config), user, challenge, credentialDescriptors(existing)) }
}

/**
 * POST /users/me/passkeys: checks the registration against its challenge and stores the
 * credential. The account's first second factor comes with ten recovery codes (shown once) and
 * ends the account's other sessions: a session opened with a stolen password must not outlive the
 * owner's move to two factors.
 * Failures spend from the network budget and are audited (`user.passkey_failed`).
 */
export async function registerPasskey(
  ctx: SignInContext,
  account: SignedIn,
  input: { challengeId: string; credential: RegistrationResponse; name?: string },
): Promise<{ passkey: PasskeyRow; recoveryCodes?: string[] }> {
  const { db, config, caller: client } = ctx
  const { user, session } = account
  const challenge = await takeChallenge(ctx, {
    id: input.challengeId,
    ceremony: 'registration',
    userId: user.id,
    boundTo: session.id,
  })
  const verified = await verifyRegistration(relyingPartyOf(config), challenge, input.credential)
  const { now } = ctx
  if (!verified.ok) {
    const details = { purpose: 'registration', reason: verified.reason }
    return refuseOnNetworkBudget(ctx, problem('passkey_failed'), {
      action: 'user.passkey_failed',
      actorId: user.id,
      targetId: user.id,
      details,
    })
  }
  const factors = await secondFactorsOf(db, user.id)
  const first = !factors.totp && factors.passkeys === 0
  const recovery = first ? await newRecoveryCodeSet() : undefined
  const added = await addPasskey(db, {
    userId: user.id,
    credential: verified.value,
    name: input.name?.trim() || `Passkey ${factors.passkeys + 1}`,
    codeHashes: recovery?.hashes,
    keepSessionId: session.id,
    client,
    now,
  })
  if (added.outcome === 'exists') throw problem('passkey_exists')
  if (added.outcome === 'limit') throw problem('passkey_limit')
  return { passkey: added.passkey, ...(recovery && added.codesWritten ? { recoveryCodes: recovery.codes } : {}) }
}
