import { and, eq, gt, isNotNull, isNull, lt, ne, type SQL, sql } from 'drizzle-orm'
import type { Assurance } from '../auth/assurance'
import { uuidv7 } from '../lib/ids'
import { auditStatement, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { endGrantsOf } from './oauth-grants'
import { passkeys, recoveryCodes, sessions, totpFactors, users } from './schema'

/** What an account has besides its password, as the sign-in layer and GET /users/me/mfa need it. */
export type SecondFactors = { totp: boolean; passkeys: number; recoveryCodesLeft: number }

/** The account's active TOTP factor, passkeys and unused recovery codes, counted in one query. */
export async function secondFactorsOf(db: Database, userId: string): Promise<SecondFactors> {
  const row = await db.get<{ totp: number; passkeys: number; recovery_codes_left: number }>(sql`
    SELECT
      EXISTS (SELECT 1 FROM totp_factors WHERE user_id = ${userId} AND confirmed_at IS NOT NULL) AS totp,
      (SELECT count(*) FROM passkeys WHERE user_id = ${userId}) AS passkeys,
      (SELECT count(*) FROM recovery_codes WHERE user_id = ${userId} AND used_at IS NULL) AS recovery_codes_left`)
  return { totp: row.totp === 1, passkeys: row.passkeys, recoveryCodesLeft: row.recovery_codes_left }
}

/** Whether the account's sign-ins and sensitive actions need two factors (`aal2`). */
export const needsTwoFactors = (factors: SecondFactors) => factors.totp || factors.passkeys > 0

/** A pending factor can be confirmed this long after it was started. */
export const TOTP_ENROLMENT_MS = 10 * 60 * 1000

export async function findTotpFactor(db: Database, userId: string) {
  return db.select().from(totpFactors).where(eq(totpFactors.userId, userId)).get()
}

/**
 * Starts (or restarts) an enrolment: a pending factor with this sealed secret. Refused (false)
 * while an active factor exists: a second one must not replace it without its removal.
 */
export async function startTotpEnrolment(db: Database, input: { userId: string; sealedSecret: string; now: Date }): Promise<boolean> {
  const [row] = await db
    .insert(totpFactors)
    .values({ userId: input.userId, secret: input.sealedSecret, createdAt: input.now })
    .onConflictDoUpdate({
      target: totpFactors.userId,
      set: { secret: input.sealedSecret, createdAt: input.now, lastStep: 0, lastUsedAt: null },
      setWhere: isNull(totpFactors.confirmedAt),
    })
    .returning({ userId: totpFactors.userId })
  return row !== undefined
}

/**
 * A time step's spend inside the batch that opens a sign-in's session: the step is marked with
 * the sign-in step (`spentBy`) that spent it, and the guard holds only where it was, so one code
 * opens one session however many sign-in steps answer it at once.
 */
export function spendTotpStepInBatch(db: Database, input: { userId: string; step: number; spentBy: string; now: Date; when?: SQL }) {
  const statement = db
    .update(totpFactors)
    .set({ lastStep: input.step, lastUsedAt: input.now, spentBy: input.spentBy })
    .where(and(eq(totpFactors.userId, input.userId), isNotNull(totpFactors.confirmedAt), lt(totpFactors.lastStep, input.step), input.when))
  const guard = sql`EXISTS (SELECT 1 FROM totp_factors WHERE user_id = ${input.userId} AND last_step = ${input.step} AND spent_by = ${input.spentBy})`
  return { statement, guard }
}

/**
 * Spends a time step of the account's active factor: one conditional write, so of two requests
 * with the same code (or an older one) at most one finds `last_step` below its step.
 */
export async function spendTotpStep(db: Database, input: { userId: string; step: number; now: Date }): Promise<boolean> {
  const [row] = await db
    .update(totpFactors)
    .set({ lastStep: input.step, lastUsedAt: input.now })
    .where(and(eq(totpFactors.userId, input.userId), isNotNull(totpFactors.confirmedAt), lt(totpFactors.lastStep, input.step)))
    .returning({ userId: totpFactors.userId })
  return row !== undefined
}

/** Spends one unused recovery code of the account, with its event: true when it was one. */
export async function spendRecoveryCode(
  db: Database,
  input: { userId: string; codeHash: string; client: Client; now: Date },
): Promise<boolean> {
  const { userId, now } = input
  const [spent] = await db.batch([
    db
      .update(recoveryCodes)
      .set({ usedAt: now })
      .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, input.codeHash), isNull(recoveryCodes.usedAt)))
      .returning({ id: recoveryCodes.id }),
    auditStatementWhen(
      db,
      { action: 'user.recovery_code_used', actorId: userId, targetId: userId },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM recovery_codes WHERE user_id = ${userId} AND code_hash = ${input.codeHash} AND used_at = ${now.getTime()})`,
    ),
  ])
  return spent.length > 0
}

/** A new set of recovery codes, each an insert that holds only while `condition` does. */
export function insertRecoveryCodes(db: Database, userId: string, codeHashes: string[], now: Date, condition: SQL) {
  return codeHashes.map((codeHash) =>
    db.insert(recoveryCodes).select(
      db
        .select({
          id: sql<string>`${uuidv7(now.getTime())}`.as('id'),
          userId: sql<string>`${userId}`.as('user_id'),
          codeHash: sql<string>`${codeHash}`.as('code_hash'),
          createdAt: sql<number>`${now.getTime()}`.as('created_at'),
          usedAt: sql<null>`NULL`.as('used_at'),
        })
        .from(sql`(SELECT 1)`)
        .where(condition),
    ),
  )
}

/**
 * Confirms a pending factor with the first code's step: the factor becomes active (only the very
 * enrolment that was checked, only within its ten minutes), a new set of recovery codes replaces
 * any earlier one, the confirming session takes the new assurance, every other session ends, the
 * account's failure streak ends, and the event is recorded: one batch. False when the enrolment
 * was replaced, expired or confirmed meanwhile.
 */
export async function confirmTotpFactor(
  db: Database,
  input: {
    userId: string
    startedAt: Date
    step: number
    codeHashes: string[]
    keepSessionId: string
    assurance: Assurance
    client: Client
    now: Date
  },
): Promise<boolean> {
  const { userId, now, assurance } = input
  const confirmed = sql`EXISTS (SELECT 1 FROM totp_factors WHERE user_id = ${userId} AND confirmed_at = ${now.getTime()})`
  const [activated] = await db.batch([
    db
      .update(totpFactors)
      .set({ confirmedAt: now, lastStep: input.step, lastUsedAt: now })
      .where(
        and(
          eq(totpFactors.userId, userId),
          isNull(totpFactors.confirmedAt),
          eq(totpFactors.createdAt, input.startedAt),
          gt(totpFactors.createdAt, new Date(now.getTime() - TOTP_ENROLMENT_MS)),
        ),
      )
      .returning({ userId: totpFactors.userId }),
    db.delete(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), confirmed)),
    ...insertRecoveryCodes(db, userId, input.codeHashes, now, confirmed),
    db
      .update(sessions)
      .set({ authTime: assurance.authTime, amr: assurance.amr, aal: assurance.aal })
      .where(and(eq(sessions.id, input.keepSessionId), confirmed)),
    db.delete(sessions).where(and(eq(sessions.userId, userId), ne(sessions.id, input.keepSessionId), confirmed)),
    db
      .update(users)
      .set({ lastAuthAt: now })
      .where(and(eq(users.id, userId), confirmed)),
    auditStatementWhen(
      db,
      { action: 'user.mfa_enabled', actorId: userId, targetId: userId, details: { method: 'totp' } },
      input.client,
      now,
      confirmed,
    ),
    endGrantsOf(db, userId, confirmed),
  ])
  return activated.length > 0
}

/** Replaces the account's recovery codes with a new set, with its event. */
export async function replaceRecoveryCodes(db: Database, input: { userId: string; codeHashes: string[]; client: Client; now: Date }) {
  const { userId, now } = input
  const active = sql`(EXISTS (SELECT 1 FROM totp_factors WHERE user_id = ${userId} AND confirmed_at IS NOT NULL)
    OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = ${userId}))`
  const [deleted] = await db.batch([
    db
      .delete(recoveryCodes)
      .where(and(eq(recoveryCodes.userId, userId), active))
      .returning({ id: recoveryCodes.id }),
    ...insertRecoveryCodes(db, userId, input.codeHashes, now, active),
    auditStatementWhen(db, { action: 'user.recovery_codes_regenerated', actorId: userId, targetId: userId }, input.client, now, active),
  ])
  return deleted
}

/** Which methods, once the second factors are gone, a session's `amr` may still claim. */
const SECOND_FACTOR_METHODS = `('otp', 'rc', 'mfa')`

/**
 * Removes the account's TOTP factor and, unless a passkey remains, its recovery codes, by its
 * owner (`user.mfa_disabled`). Sessions stay, each lowered to what it can still claim: one that
 * reached `aal2` through a code drops to `aal1` with the code's methods gone (a passkey's `aal2`
 * stands). Returns whether there was a factor.
 */
export async function removeTotpFactor(db: Database, input: { userId: string; client: Client; now: Date }): Promise<boolean> {
  const { userId, now } = input
  // The codes back up every second factor: they stay while a passkey does.
  const removedNow = sql`NOT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = ${userId})
    AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = ${userId})`
  const [removed] = await db.batch([
    db
      .delete(totpFactors)
      .where(eq(totpFactors.userId, userId))
      .returning({ userId: totpFactors.userId, confirmedAt: totpFactors.confirmedAt }),
    db.delete(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), removedNow)),
    db
      .update(sessions)
      .set({
        aal: 'aal1',
        amr: sql`(SELECT json_group_array(value) FROM json_each(${sessions.amr}) WHERE value NOT IN ${sql.raw(SECOND_FACTOR_METHODS)})`,
      })
      .where(
        and(
          eq(sessions.userId, userId),
          eq(sessions.aal, 'aal2'),
          sql`NOT EXISTS (SELECT 1 FROM json_each(${sessions.amr}) WHERE value = 'hwk')`,
        ),
      ),
    auditStatement(db, { action: 'user.mfa_disabled', actorId: userId, targetId: userId, details: { method: 'totp' } }, input.client, now),
  ])
  return removed.some((row) => row.confirmedAt !== null)
}

/**
 * An admin's reset for a lost device (`admin.mfa_reset`, with counts): the TOTP factor, the
 * recovery codes and the passkeys go, and every session ends, in one batch. The account is left
 * with its password or linked identities; one with neither gets back in through a reset link,
 * which sets a password.
 */
export async function resetSecondFactors(db: Database, input: { userId: string; actorId: string; client: Client; now: Date }) {
  const { userId, now } = input
  const counted = (table: string) => sql`(SELECT count(*) FROM ${sql.identifier(table)} WHERE user_id = ${userId})`
  await db.batch([
    auditStatementWhen(
      db,
      { action: 'admin.mfa_reset', actorId: input.actorId, targetId: userId },
      input.client,
      now,
      sql`1 = 1`,
      sql`json_object('totp', ${counted('totp_factors')}, 'passkeys', ${counted('passkeys')}, 'recovery_codes', ${counted('recovery_codes')})`,
    ),
    db.delete(totpFactors).where(eq(totpFactors.userId, userId)),
    db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId)),
    db.delete(passkeys).where(eq(passkeys.userId, userId)),
    db.delete(sessions).where(eq(sessions.userId, userId)),
    endGrantsOf(db, userId),
  ])
}
