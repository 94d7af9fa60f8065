import type { ProofKind } from '../../auth/assurance'
import type { AuthenticationResponse } from '../../auth/webauthn'
import type { Config } from '../../config'
import type { Client } from '../../db/audit'
import type { Database } from '../../db/client'
import type { PasskeyRow } from '../../db/schema'
import type { ProofWrite } from '../../db/sessions'

/**
 * What someone offers to prove who they are. Each kind says which factor it is (auth/assurance.ts);
 * each is checked by its module under methods/, dispatched from proofs.ts checkProof.
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

export const NOTHING_TO_WRITE: ProofWrite = { guard: undefined, records: [] }
