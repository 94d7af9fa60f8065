import { needsTwoFactors, type SecondFactors } from '../db/factors'

/**
 * What an account can prove itself with, in the contract's words: the `methods` of mfa_required
 * (the second step's answers) and of reauthentication_required (the proofs a re-authentication
 * takes). Only what the account really has: one without a password (a provider's) is never asked
 * for one.
 */
export function methodsFor(account: { hasPassword: boolean; factors: SecondFactors }) {
  const { hasPassword, factors } = account
  const secondStep = [
    ...(factors.totp ? ['totp'] : []),
    ...(factors.recoveryCodesLeft > 0 ? ['recovery_code'] : []),
    ...(factors.passkeys > 0 ? ['passkey'] : []),
  ]
  const reauthentication = needsTwoFactors(factors)
    ? [
        ...(hasPassword && factors.totp ? ['password+totp'] : []),
        ...(hasPassword && factors.recoveryCodesLeft > 0 ? ['password+recovery_code'] : []),
        ...(factors.passkeys > 0 ? ['passkey'] : []),
      ]
    : hasPassword
      ? ['password']
      : factors.passkeys > 0
        ? ['passkey']
        : []
  return { secondStep, reauthentication }
}
