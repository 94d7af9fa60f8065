import { and, eq, gt, isNull, sql } from 'drizzle-orm'
import type { Database } from './client'
import { type ChallengePurpose, challenges, users } from './schema'

/** A sign-in step waiting for its next proof (the `mfa_token` after a password). */
export async function createChallenge(
  db: Database,
  input: {
    id: string
    tokenHash: string
    purpose: ChallengePurpose
    userId: string
    firstFactor: string
    boundTo: string
    attempts: number
    ttlSeconds: number
    now: Date
  },
): Promise<void> {
  const { now } = input
  await db.insert(challenges).values({
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
export async function findLiveChallenge(db: Database, input: { tokenHash: string; purpose: ChallengePurpose; now: Date }) {
  return db
    .select({ challenge: challenges, user: users })
    .from(challenges)
    .innerJoin(users, eq(users.id, challenges.userId))
    .where(
      and(
        eq(challenges.tokenHash, input.tokenHash),
        eq(challenges.purpose, input.purpose),
        isNull(challenges.usedAt),
        gt(challenges.expiresAt, input.now),
        gt(challenges.attemptsLeft, 0),
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
    .update(challenges)
    .set({ attemptsLeft: sql`${challenges.attemptsLeft} - 1` })
    .where(and(eq(challenges.id, input.id), isNull(challenges.usedAt), gt(challenges.expiresAt, input.now), gt(challenges.attemptsLeft, 0)))
    .returning({ id: challenges.id })
  return row !== undefined
}

/**
 * Uses the challenge up after a right answer (whose attempt was reserved, so none need be left),
 * once: of two simultaneous right answers exactly one gets true.
 */
export async function useChallenge(db: Database, input: { id: string; now: Date }): Promise<boolean> {
  const [row] = await db
    .update(challenges)
    .set({ usedAt: input.now })
    .where(and(eq(challenges.id, input.id), isNull(challenges.usedAt), gt(challenges.expiresAt, input.now)))
    .returning({ id: challenges.id })
  return row !== undefined
}
