import { hashPassword } from '../../auth/password'
import { verifyAgainstNobody, verifyPassword } from '../../auth/password-check'
import type { UserRow } from '../../db/schema'
import { passwordSignIn } from '../../db/users'
import type { CheckedProof, ProofContext } from './types'

/**
 * A password, for an account or for none: an unknown account, or one without a password, costs
 * the same work as a wrong password, so timing tells them apart from nothing. A right one under
 * old parameters is re-hashed by the write that acts on it.
 */
export async function checkPassword(
  context: ProofContext,
  user: UserRow | undefined,
  proof: { kind: 'password'; password: string },
): Promise<CheckedProof | undefined> {
  const { db, config, now } = context
  const stored = user?.passwordHash
  const check = user && stored ? await verifyPassword(proof.password, stored, config) : await verifyAgainstNobody(proof.password, config)
  if (!user || !stored || !check.valid) return undefined
  const newHash = check.needsRehash ? await hashPassword(proof.password, config) : undefined
  const write = passwordSignIn(db, { userId: user.id, checkedHash: stored, newHash, now, login: context.signIn ?? false })
  return { kind: 'password', write }
}
