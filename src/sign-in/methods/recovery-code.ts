import { hashRecoveryCode } from '../../auth/recovery-codes'
import { spendRecoveryCode } from '../../db/factors'
import type { UserRow } from '../../db/schema'
import { type CheckedProof, NOTHING_TO_WRITE, type ProofContext } from './types'

/** One of the account's unused recovery codes, spent by one conditional write. */
export async function checkRecoveryCode(
  context: ProofContext,
  user: UserRow | undefined,
  proof: { kind: 'recovery_code'; code: string },
): Promise<CheckedProof | undefined> {
  const { db, now } = context
  if (!user) return undefined
  const spent = await spendRecoveryCode(db, {
    userId: user.id,
    codeHash: await hashRecoveryCode(proof.code),
    client: context.client,
    now,
  })
  return spent ? { kind: 'recovery_code', write: NOTHING_TO_WRITE } : undefined
}
