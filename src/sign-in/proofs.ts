import type { ProofKind } from '../auth/assurance'
import { codeChallengeOf } from '../auth/oauth'
import { hashOpaqueToken } from '../auth/opaque-tokens'
import { hashPassword } from '../auth/password'
import { verifyAgainstNobody, verifyPassword } from '../auth/password-check'
import { hashRecoveryCode } from '../auth/recovery-codes'
import { open } from '../auth/secret-box'
import { matchTotp } from '../auth/totp'
import { type AuthenticationResponse, counterAdvances, type RelyingParty, userHandleOf, verifyAssertion } from '../auth/webauthn'
import type { Config } from '../config'
import { type Client, recordEvent } from '../db/audit'
import type { Database } from '../db/client'
import { findTotpFactor, spendRecoveryCode, spendTotpStep, TOTP_ENROLMENT_MS } from '../db/factors'
import type { ProviderProfile } from '../db/identities'
import { takeFlowCode } from '../db/oauth-flows'
import { findPasskeyByCredentialId, recordPasskeyUse } from '../db/passkeys'
import type { PasskeyRow, UserRow } from '../db/schema'
import type { ProofWrite } from '../db/sessions'
import { passwordSignIn, proofSignIn } from '../db/users'

/**
 * What someone offers to prove who they are. Each kind says which factor it is (auth/assurance.ts);
 * this module is the one place any of them is checked.
 */
export type SecondFactorProof = { kind: 'totp'; code: string } | { kind: 'recovery_code'; code: string } | PasskeyProof
export type Proof = { kind: 'password'; password: string } | SecondFactorProof

/**
 * A WebAuthn assertion, with the challenge it must answer (already taken:
 * sign-in/passkey-challenges.ts takeChallenge). A passwordless sign-in's (`discoverable`) must name its account by the
 * user handle too.
 */
export type PasskeyProof = {
  kind: 'passkey'
  challenge: string
  credential: AuthenticationResponse
  discoverable?: boolean
  /** The stored passkey the credential id names, when the caller has looked it up already. */
  stored?: PasskeyRow
}

/** The relying party every ceremony is checked against: the configuration's, never a request's. */
export const relyingPartyOf = (config: Config): RelyingParty => ({
  id: config.webauthnRpId,
  name: config.webauthnRpName,
  origins: config.webauthnOrigins,
})

/**
 * A proof that checked out: its kind, and what the write that acts on it must hold to and record
 * (the password hash it was checked against, a re-hash that is due).
 */
export type CheckedProof = { kind: ProofKind; write: ProofWrite }

export type ProofContext = {
  db: Database
  config: Config
  now: Date
  client: Client
  /** A sign-in records itself as the account's last login; a re-authentication does not. */
  signIn?: boolean
}

const NOTHING_TO_WRITE: ProofWrite = { guard: undefined, records: [] }

/**
 * Checks a proof against an account, or against none. A password for an unknown account, or one
 * without a password, costs the same work as a wrong one, so timing tells them apart from
 * nothing. A second factor is spent as it is checked (a TOTP step, a recovery code): one
 * conditional write each, so a code works once even when two requests race. Undefined when the
 * proof is wrong.
 */
export async function checkProof(context: ProofContext, user: UserRow | undefined, proof: Proof): Promise<CheckedProof | undefined> {
  const { db, config, now } = context
  switch (proof.kind) {
    case 'password': {
      const stored = user?.passwordHash
      const check =
        user && stored ? await verifyPassword(proof.password, stored, config) : await verifyAgainstNobody(proof.password, config)
      if (!user || !stored || !check.valid) return undefined
      const newHash = check.needsRehash ? await hashPassword(proof.password, config) : undefined
      const write = passwordSignIn(db, { userId: user.id, checkedHash: stored, newHash, now, login: context.signIn ?? false })
      return { kind: 'password', write }
    }
    case 'totp': {
      if (!user) return undefined
      const factor = await findTotpFactor(db, user.id)
      if (!factor?.confirmedAt) return undefined
      const step = await matchingStep(config, user.id, factor.secret, proof.code, now)
      if (step === undefined || !(await spendTotpStep(db, { userId: user.id, step, now }))) return undefined
      return { kind: 'totp', write: NOTHING_TO_WRITE }
    }
    case 'recovery_code': {
      if (!user) return undefined
      const spent = await spendRecoveryCode(db, {
        userId: user.id,
        codeHash: await hashRecoveryCode(proof.code),
        client: context.client,
        now,
      })
      return spent ? { kind: 'recovery_code', write: NOTHING_TO_WRITE } : undefined
    }
    case 'passkey':
      return user ? checkPasskey(context, user, proof) : undefined
  }
}

/**
 * The app's exchange of a provider sign-in's one-time code: the code is spent by its first use,
 * and counts only with the verifier of the PKCE challenge the app sent at authorize (S256). The
 * provider's own answer was checked at the callback (sign-in/provider.ts); this proves the one
 * who exchanges is the app that started the flow. Returns the account it reached, or undefined.
 */
export async function checkProviderCode(context: ProofContext, code: string, codeVerifier: string) {
  const { db, now } = context
  const flow = await takeFlowCode(db, { codeHash: await hashOpaqueToken(code), purpose: 'sign_in', now })
  if (!flow?.userId || !flow.codeChallenge) return undefined
  if ((await codeChallengeOf(codeVerifier)) !== flow.codeChallenge) return undefined
  const checked: CheckedProof = { kind: 'provider', write: proofSignIn(db, { userId: flow.userId, now, login: true }) }
  return { userId: flow.userId, provider: flow.provider, checked }
}

/**
 * A link code's completion: the code is spent by its first use, and counts only for the account
 * that started the link, for the provider it names, with the verifier of the PKCE challenge sent
 * when the link was started. So a link URL opened in someone else's browser (login CSRF) hands
 * their provider identity to nobody: the code comes back to a browser, but only the starter's
 * bearer token and verifier turn it into a link. Returns the provider identity, or undefined.
 */
export async function checkLinkCode(
  context: ProofContext,
  input: { userId: string; provider: string; code: string; codeVerifier: string },
): Promise<ProviderProfile | undefined> {
  const flow = await takeFlowCode(context.db, { codeHash: await hashOpaqueToken(input.code), purpose: 'link', now: context.now })
  if (!flow || flow.linkUserId !== input.userId || flow.provider !== input.provider || !flow.codeChallenge || !flow.profile)
    return undefined
  if ((await codeChallengeOf(input.codeVerifier)) !== flow.codeChallenge) return undefined
  return flow.profile as ProviderProfile
}

/**
 * An assertion by one of this account's credentials (another account's never counts, whatever
 * it signs), verified, then its counter recorded by a compare-and-set. A counter that does not
 * grow (other than a synced passkey's constant 0) may be a cloned authenticator: refused and
 * audited as `passkey.clone_suspected`.
 */
async function checkPasskey(context: ProofContext, user: UserRow, proof: PasskeyProof): Promise<CheckedProof | undefined> {
  const { db, config, now } = context
  const { credential } = proof
  const found = proof.stored ? { passkey: proof.stored } : await findPasskeyByCredentialId(db, credential.rawId)
  // Whatever it signs, another account's credential never counts for this one.
  if (!found || found.passkey.userId !== user.id || found.passkey.credentialId !== credential.rawId) return undefined
  const handle = credential.response.userHandle
  if ((proof.discoverable && !handle) || (handle && handle !== userHandleOf(user.id))) return undefined
  const verified = await verifyAssertion(relyingPartyOf(config), proof.challenge, found.passkey.publicKey, credential)
  if (!verified.ok) return undefined
  const stored = found.passkey.counter
  if (!counterAdvances(stored, verified.value.counter)) {
    const details = { passkey_id: found.passkey.id, stored_counter: stored, asserted_counter: verified.value.counter }
    await recordEvent(db, { action: 'passkey.clone_suspected', targetId: user.id, details }, context.client, now)
    return undefined
  }
  const used = await recordPasskeyUse(db, {
    id: found.passkey.id,
    readCounter: stored,
    counter: verified.value.counter,
    backedUp: verified.value.backedUp,
    now,
  })
  if (!used) return undefined
  return { kind: 'passkey', write: proofSignIn(db, { userId: user.id, now, login: context.signIn ?? false }) }
}

/**
 * The first code of a pending TOTP factor (its enrolment's confirmation): the step it matches,
 * or undefined when it is wrong or the enrolment is over its ten minutes. Spent by the
 * confirmation's own write (db/factors.ts confirmTotpFactor).
 */
export async function checkPendingTotp(context: ProofContext, user: UserRow, code: string) {
  const factor = await findTotpFactor(context.db, user.id)
  if (!factor || factor.confirmedAt || factor.createdAt.getTime() <= context.now.getTime() - TOTP_ENROLMENT_MS) return undefined
  const step = await matchingStep(context.config, user.id, factor.secret, code, context.now)
  return step === undefined ? undefined : { step, startedAt: factor.createdAt }
}

async function matchingStep(config: Config, userId: string, sealed: string, code: string, now: Date) {
  const secret = await open(config.sealingKeys, sealed, userId)
  return secret ? matchTotp(secret, code.trim(), now.getTime()) : undefined
}
