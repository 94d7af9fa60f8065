import type { UserRow } from '../db/schema'
import { checkPasskey } from './methods/passkey'
import { checkPassword } from './methods/password'
import { checkRecoveryCode } from './methods/recovery-code'
import { checkTotp } from './methods/totp'
import type { CheckedProof, Proof, ProofContext } from './methods/types'

export type { CheckedProof, PasskeyProof, Proof, ProofContext, SecondFactorProof } from './methods/types'

/**
 * Checks a proof against an account, or against none, through its method's module (methods/):
 * one place every kind is dispatched from, so a new way of proving is one module and one line
 * here. A second factor is spent as it is checked (a TOTP step, a recovery code): one conditional
 * write each, so a code works once even when two requests race. Undefined when the proof is wrong.
 */
export async function checkProof(context: ProofContext, user: UserRow | undefined, proof: Proof): Promise<CheckedProof | undefined> {
  switch (proof.kind) {
    case 'password':
      return checkPassword(context, user, proof)
    case 'totp':
      return checkTotp(context, user, proof)
    case 'recovery_code':
      return checkRecoveryCode(context, user, proof)
    case 'passkey':
      return user ? checkPasskey(context, user, proof) : undefined
  }
}

export { relyingPartyOf } from './methods/passkey'
export { checkLinkCode, checkProviderCode } from './methods/provider-code'
export { checkPendingTotp } from './methods/totp'
