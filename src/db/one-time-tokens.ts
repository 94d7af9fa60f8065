import { and, eq, gt, isNull, sql } from 'drizzle-orm'
import type { Database } from './client'
import { oneTimeTokens, users } from './schema'

/*
 * The sign-in step's `mfa_token` in the one store of one-time secrets (schema.ts oneTimeTokens),
 * beside the mailed links (db/mail.ts): issued hashed and bound, found while live, an attempt taken
 * before each answer is checked, used once.
 */

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

/** A challenge that can still be answered (unused, unexpired, attempts left), with its account. */
export async function findLiveChallenge(db: Database, input: { tokenHash: string; purpose: 'mfa'; now: Date }) {
  return db
    .select({ challenge: oneTimeTokens, user: users })
    .from(oneTimeTokens)
    .innerJoin(users, eq(users.id, oneTimeTokens.userId))
    .where(
      and(
        eq(oneTimeTokens.tokenHash, input.tokenHash),
        eq(oneTimeTokens.purpose, input.purpose),
        isNull(oneTimeTokens.usedAt),
        gt(oneTimeTokens.expiresAt, input.now),
        gt(oneTimeTokens.attemptsLeft, 0),
      ),
    )
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
