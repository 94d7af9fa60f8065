import { counterAdvances, type RelyingParty, userHandleOf, verifyAssertion } from '../../auth/webauthn'
import type { Config } from '../../config'
import { recordEvent } from '../../db/audit'
import { findPasskeyByCredentialId, usePasskeyInBatch } from '../../db/passkeys'
import type { UserRow } from '../../db/schema'
import { proofSignIn } from '../../db/users'
import type { CheckedProof, PasskeyProof, ProofContext } from './types'

/** The relying party every ceremony is checked against: the configuration's, never a request's. */
export const relyingPartyOf = (config: Config): RelyingParty => ({
  id: config.webauthnRpId,
  name: config.webauthnRpName,
  origins: config.webauthnOrigins,
})

/**
 * An assertion by one of this account's credentials (another account's never counts, whatever
 * it signs), verified; its counter is recorded by a compare-and-set in the write that acts on it
 * (`before`, db/passkeys.ts usePasskeyInBatch), which holds only if that write's own set did. A counter that does not
 * grow (other than a synced passkey's constant 0) may be a cloned authenticator: refused and
 * audited as `passkey.clone_suspected`.
 */
export async function checkPasskey(context: ProofContext, user: UserRow, proof: PasskeyProof): Promise<CheckedProof | undefined> {
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
  // The compare-and-set runs in the batch that acts on the proof, first, and that batch holds only
  // where it left this request's mark: a rival assertion read against the same counter opens nothing.
  const use = usePasskeyInBatch(db, {
    id: found.passkey.id,
    readCounter: stored,
    counter: verified.value.counter,
    backedUp: verified.value.backedUp,
    marker: `used:${crypto.randomUUID()}`,
    now,
  })
  const recorded = proofSignIn(db, { userId: user.id, now, login: context.signIn ?? false, when: use.guard })
  return { kind: 'passkey', write: { guard: use.guard, before: [use.statement], records: recorded.records } }
}
