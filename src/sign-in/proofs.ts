import type { ProofKind } from '../auth/assurance'
import { hashPassword, type PasswordSettings } from '../auth/password'
import { verifyAgainstNobody, verifyPassword } from '../auth/password-check'
import type { Database } from '../db/client'
import type { UserRow } from '../db/schema'
import type { ProofWrite } from '../db/sessions'
import { passwordSignIn } from '../db/users'

/**
 * What someone offers to prove who they are. Each kind says which factor it is (auth/assurance.ts);
 * this module is the one place any of them is checked.
 */
export type Proof = { kind: 'password'; password: string }

/**
 * A proof that checked out: its kind, and what the write that acts on it must hold to and record
 * (the password hash it was checked against, a re-hash that is due).
 */
export type CheckedProof = { kind: ProofKind; write: ProofWrite }

type ProofContext = { db: Database; config: PasswordSettings; now: Date }

/**
 * Checks a proof against an account, or against none: an unknown account, or one without that
 * kind of credential, costs the same work as a wrong answer, so timing tells them apart from
 * nothing. Undefined when the proof is wrong.
 */
export async function checkProof(context: ProofContext, user: UserRow | undefined, proof: Proof): Promise<CheckedProof | undefined> {
  const { db, config, now } = context
  const stored = user?.passwordHash
  const check = user && stored ? await verifyPassword(proof.password, stored, config) : await verifyAgainstNobody(proof.password, config)
  if (!user || !stored || !check.valid) return undefined
  const newHash = check.needsRehash ? await hashPassword(proof.password, config) : undefined
  return { kind: 'password', write: passwordSignIn(db, { userId: user.id, checkedHash: stored, newHash, now }) }
}
