/**
 * How strongly a session's user proved who they are, as access tokens carry it: `auth_time`,
 * `amr` (RFC 8176 method names) and `aal` (NIST SP 800-63B). Pure: computed from the kinds of
 * proof a sign-in or a re-authentication checked.
 */

/** Every kind of proof the API checks. */
export type ProofKind = 'password' | 'totp' | 'recovery_code' | 'passkey' | 'provider'

export type Aal = 'aal1' | 'aal2'

export type Assurance = { authTime: Date; amr: string[]; aal: Aal }

/** RFC 8176 names where it has one (`pwd`, `otp`, `hwk`, `mfa`); `rc` and `fed` are this API's. */
const METHOD: Record<ProofKind, string> = {
  password: 'pwd',
  totp: 'otp',
  recovery_code: 'rc',
  passkey: 'hwk',
  provider: 'fed',
}

/**
 * How many factors a proof is: a passkey the authenticator user-verified is two at once
 * (something held, and the PIN or biometric that unlocked it); every other kind is one.
 */
const FACTORS: Record<ProofKind, number> = { password: 1, totp: 1, recovery_code: 1, passkey: 2, provider: 1 }

/** The assurance of proofs checked together at `at`: two factors or more are `aal2`, with `mfa`. */
export function assuranceOf(kinds: ProofKind[], at: Date): Assurance {
  const factors = kinds.reduce((sum, kind) => sum + FACTORS[kind], 0)
  const amr = [...new Set(kinds.map((kind) => METHOD[kind]))]
  return factors >= 2 ? { authTime: at, amr: [...amr, 'mfa'], aal: 'aal2' } : { authTime: at, amr, aal: 'aal1' }
}

/** Whether a proof of this kind is already two factors, so no second step follows it. */
export const isTwoFactors = (kind: ProofKind) => FACTORS[kind] >= 2

/**
 * A session's assurance once a second factor was enrolled and proved on it (its first code): the
 * factor's method and `mfa` join what the session already claims, at `aal2`, and `auth_time`
 * stays as it was. Enrolling proves the new factor, not the first one again: it never adds `pwd`
 * and never renews the proof, so enrolling, removing and enrolling again keeps no window open.
 */
export function withEnrolledFactor(current: Assurance, kind: ProofKind): Assurance {
  return { authTime: current.authTime, amr: [...new Set([...current.amr.filter((m) => m !== 'mfa'), METHOD[kind], 'mfa'])], aal: 'aal2' }
}
