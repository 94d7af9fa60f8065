import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { recordEvent } from '../db/audit'
import { problem } from '../errors'
import { accountSubject } from '../rate-limit/client'
import { admitAttempt } from './attempt'
import { type CheckedProof, checkProof, type Proof } from './proofs'

/** Why a signed-in user is asked to prove who they are again; recorded with a failure. */
export type ReauthPurpose = 'password_change' | 'account_deletion'

/**
 * A proof given on an existing session (before a change that needs it): throttled by the
 * account's failure streak like a login (429 while backing off, before any proof work), each
 * failure audited and answered 403 invalid_password. Returns the checked proof and its time,
 * for the write that acts on it.
 */
export async function reauthenticate(
  c: Context<AppEnv>,
  proof: Proof,
  purpose: ReauthPurpose,
): Promise<{ checked: CheckedProof; at: Date }> {
  const { db, config, user, client } = c.var
  const attempt = await admitAttempt(c, accountSubject(user.id), user)
  const checked = await checkProof({ db, config, now: attempt.at }, user, proof)
  if (!checked) {
    await recordEvent(db, { action: 'user.reauth_failed', actorId: user.id, targetId: user.id, details: { purpose } }, client, attempt.at)
    throw problem('invalid_password')
  }
  return { checked, at: attempt.at }
}
