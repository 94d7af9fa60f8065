import { and, eq, gt, inArray, isNull, or, type SQL, sql } from 'drizzle-orm'
import type { Database } from './client'
import { type OneTimeTokenPurpose, oneTimeTokens, totpFactors, users } from './schema'

/*
 * The sign-in step's `mfa_token` in the one store of one-time secrets (schema.ts oneTimeTokens),
 * beside the mailed links (db/mail.ts): issued hashed and bound, found while live, an attempt taken
 * before each answer is checked, used once.
 */

/** A token that can still be redeemed: unused, unexpired, and (a sign-in step) with attempts left. */
const redeemable = (now: Date) =>
  and(
    isNull(oneTimeTokens.usedAt),
    gt(oneTimeTokens.expiresAt, now),
    or(isNull(oneTimeTokens.attemptsLeft), gt(oneTimeTokens.attemptsLeft, 0)),
  )

/** A sign-in step waiting for its next proof (the `mfa_token` after a password). */
export async function createChallenge(
  db: Database,
  input: {
    id: string
    tokenHash: string
    purpose: 'mfa'
    userId: string
    firstFactor: string
    boundTo: string
    attempts: number
    ttlSeconds: number
    now: Date
  },
): Promise<void> {
  const { now } = input
  await db.insert(oneTimeTokens).values({
    id: input.id,
    tokenHash: input.tokenHash,
    purpose: input.purpose,
    userId: input.userId,
    firstFactor: input.firstFactor,
    boundTo: input.boundTo,
    attemptsLeft: input.attempts,
    createdAt: now,
    expiresAt: new Date(now.getTime() + input.ttlSeconds * 1000),
  })
}

/**
 * A one-time token that can still be redeemed, with its account: of one of these purposes, unused,
 * unexpired, and (a sign-in step) with attempts left. Mailed links and sign-in steps are found alike.
 */
export async function findLiveToken(db: Database, input: { tokenHash: string; purposes: OneTimeTokenPurpose[]; now: Date }) {
  return db
    .select({ token: oneTimeTokens, user: users })
    .from(oneTimeTokens)
    .innerJoin(users, eq(users.id, oneTimeTokens.userId))
    .where(and(eq(oneTimeTokens.tokenHash, input.tokenHash), inArray(oneTimeTokens.purpose, input.purposes), redeemable(input.now)))
    .get()
}

/**
 * Takes one of the challenge's attempts before its answer is checked: one conditional write, so
 * however many answers arrive at once, no more are checked than it has attempts. False when it
 * has none left (or is used or expired): the answer must not be checked at all.
 */
export async function reserveChallengeAttempt(db: Database, input: { id: string; now: Date }): Promise<boolean> {
  const [row] = await db
    .update(oneTimeTokens)
    .set({ attemptsLeft: sql`${oneTimeTokens.attemptsLeft} - 1` })
    .where(
      and(
        eq(oneTimeTokens.id, input.id),
        eq(oneTimeTokens.purpose, 'mfa'),
        isNull(oneTimeTokens.usedAt),
        gt(oneTimeTokens.expiresAt, input.now),
        gt(oneTimeTokens.attemptsLeft, 0),
      ),
    )
    .returning({ id: oneTimeTokens.id })
  return row !== undefined
}

/**
 * Uses the challenge up after a right answer (whose attempt was reserved, so none need be left),
 * once: of two simultaneous right answers exactly one gets true.
 */
export async function useChallenge(db: Database, input: { id: string; now: Date }): Promise<boolean> {
  const [row] = await db
    .update(oneTimeTokens)
    .set({ usedAt: input.now })
    .where(
      and(
        eq(oneTimeTokens.id, input.id),
        eq(oneTimeTokens.purpose, 'mfa'),
        isNull(oneTimeTokens.usedAt),
        gt(oneTimeTokens.expiresAt, input.now),
      ),
    )
    .returning({ id: oneTimeTokens.id })
  return row !== undefined
}

/**
 * A sign-in step's token that can still be answered, with its account and the account's
 * authenticator app (if any), in one read: the second step needs all three before its answer.
 */
export async function findLiveStep(db: Database, input: { tokenHash: string; now: Date }) {
  return db
    .select({ token: oneTimeTokens, user: users, totp: totpFactors })
    .from(oneTimeTokens)
    .innerJoin(users, eq(users.id, oneTimeTokens.userId))
    .leftJoin(totpFactors, eq(totpFactors.userId, oneTimeTokens.userId))
    .where(and(eq(oneTimeTokens.tokenHash, input.tokenHash), eq(oneTimeTokens.purpose, 'mfa'), redeemable(input.now)))
    .get()
}

/**
 * Uses a sign-in step up inside the batch that opens its session, only `when` its proof was
 * spent (a code refused for being spent already leaves the step to another try): the use marks
 * the row with this request's own `marker`, and the returned guard holds only where it did, so of
 * two right answers to one step sent at once exactly one session opens.
 */
export function useStepInBatch(db: Database, input: { id: string; marker: string; now: Date; when: SQL }) {
  const statement = db
    .update(oneTimeTokens)
    .set({ usedAt: input.now, boundTo: input.marker })
    .where(
      and(
        eq(oneTimeTokens.id, input.id),
        eq(oneTimeTokens.purpose, 'mfa'),
        isNull(oneTimeTokens.usedAt),
        gt(oneTimeTokens.expiresAt, input.now),
        input.when,
      ),
    )
  return { statement, guard: sql`EXISTS (SELECT 1 FROM mail_tokens WHERE id = ${input.id} AND bound_to = ${input.marker})` }
}

/** Whether a sign-in step was used up by the request that marked it. */
export async function stepUsedBy(db: Database, input: { id: string; marker: string }): Promise<boolean> {
  const row = await db
    .select({ id: oneTimeTokens.id })
    .from(oneTimeTokens)
    .where(and(eq(oneTimeTokens.id, input.id), eq(oneTimeTokens.boundTo, input.marker)))
    .get()
  return row !== undefined
}

/** Whether a sign-in step is still unused and unexpired. */
export async function stepStillLive(db: Database, input: { id: string; now: Date }): Promise<boolean> {
  const row = await db
    .select({ id: oneTimeTokens.id })
    .from(oneTimeTokens)
    .where(and(eq(oneTimeTokens.id, input.id), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, input.now)))
    .get()
  return row !== undefined
}

/** The condition, for a statement in a batch, that a sign-in step is still unused and unexpired. */
export const stepIsLive = (input: { id: string; now: Date }) =>
  sql`EXISTS (SELECT 1 FROM mail_tokens WHERE id = ${input.id} AND used_at IS NULL AND expires_at > ${input.now.getTime()})`
