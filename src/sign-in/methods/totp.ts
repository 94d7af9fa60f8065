import { open } from '../../auth/secret-box'
import { matchTotp } from '../../auth/totp'
import type { Config } from '../../config'
import { findTotpFactor, spendTotpStep, TOTP_ENROLMENT_MS } from '../../db/factors'
import type { UserRow } from '../../db/schema'
import { type CheckedProof, NOTHING_TO_WRITE, type ProofContext } from './types'

/** A code of the account's active authenticator app, its time step spent by one conditional write. */
export async function checkTotp(
  context: ProofContext,
  user: UserRow | undefined,
  proof: { kind: 'totp'; code: string },
): Promise<CheckedProof | undefined> {
  const { db, config, now } = context
  if (!user) return undefined
  const factor = await findTotpFactor(db, user.id)
  if (!factor?.confirmedAt) return undefined
  const step = await matchingStep(config, user.id, factor.secret, proof.code, now)
  if (step === undefined || !(await spendTotpStep(db, { userId: user.id, step, now }))) return undefined
  return { kind: 'totp', write: NOTHING_TO_WRITE }
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

/** The time step a code of an account's active authenticator app matches, checked with the factor already read (undefined: wrong, or no active app). */
export async function activeTotpStep(
  config: Config,
  factor: { userId: string; secret: string; confirmedAt: Date | null } | null,
  code: string,
  now: Date,
) {
  if (!factor?.confirmedAt) return undefined
  return matchingStep(config, factor.userId, factor.secret, code, now)
}

async function matchingStep(config: Config, userId: string, sealed: string, code: string, now: Date) {
  const secret = await open(config.sealingKeys, sealed, userId)
  return secret ? matchTotp(secret, code.trim(), now.getTime()) : undefined
}
