import { and, count, eq, gt, isNull, lt, or, sql } from 'drizzle-orm'
import { sha256, toBase64Url } from '../lib/encoding'
import { uuidv7 } from '../lib/ids'
import { auditStatement, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { type MailJobStatus, type MailTokenPurpose, mailJobs, mailTokens, sessions, type UserRow, users } from './schema'

/** Jobs run by the queue consumer have no HTTP client behind them. */
const CONSUMER: Client = { ip: null, userAgent: 'mail queue' }

/**
 * What a reset token is bound to: a fingerprint of the password hash it would replace (or of
 * there being none), so any change of the stored hash (a reset, a password change) leaves the
 * token dead.
 */
export async function passwordBinding(passwordHash: string | null): Promise<string> {
  return toBase64Url(await sha256(passwordHash === null ? 'password:none' : `password:${passwordHash}`))
}

/** The key that counts an address's mails: a hash, so the table holds no address. */
export async function addressKey(email: string): Promise<string> {
  return toBase64Url(await sha256(`mail:${email}`))
}

export type Claim = 'claimed' | 'done' | 'busy'

/**
 * Takes a job for this delivery: the first delivery creates its row; a redelivery takes it only
 * if it is still pending and no other delivery holds it. 'done' means the job already ended
 * (sent or skipped): a duplicate delivery, to acknowledge without sending.
 */
export async function claimJob(db: Database, input: { id: string; kind: string; now: Date; holdMs: number }): Promise<Claim> {
  const until = new Date(input.now.getTime() + input.holdMs)
  const [claimed] = await db
    .insert(mailJobs)
    .values({ id: input.id, kind: input.kind, status: 'pending', claimedUntil: until, createdAt: input.now })
    .onConflictDoUpdate({
      target: mailJobs.id,
      set: { claimedUntil: until },
      setWhere: and(eq(mailJobs.status, 'pending'), or(isNull(mailJobs.claimedUntil), lt(mailJobs.claimedUntil, input.now))),
    })
    .returning({ id: mailJobs.id })
  if (claimed) return 'claimed'
  const job = await db.select({ status: mailJobs.status }).from(mailJobs).where(eq(mailJobs.id, input.id)).get()
  return job && job.status !== 'pending' ? 'done' : 'busy'
}

/** Lets the next delivery of a job that failed take it at once. */
export async function releaseJob(db: Database, id: string): Promise<void> {
  await db.update(mailJobs).set({ claimedUntil: null }).where(eq(mailJobs.id, id))
}

export async function finishJob(
  db: Database,
  input: { id: string; status: Exclude<MailJobStatus, 'pending'>; addressKey?: string; now: Date },
): Promise<void> {
  await db
    .update(mailJobs)
    .set({
      status: input.status,
      claimedUntil: null,
      ...(input.addressKey ? { addressKey: input.addressKey } : {}),
      ...(input.status === 'sent' ? { sentAt: input.now } : {}),
    })
    .where(eq(mailJobs.id, input.id))
}

/** A job that used up its retries; recorded whatever state it was in, unless it had been sent. */
export async function markJobDead(db: Database, input: { id: string; kind: string; now: Date }): Promise<void> {
  await db
    .insert(mailJobs)
    .values({ id: input.id, kind: input.kind, status: 'dead', createdAt: input.now })
    .onConflictDoUpdate({ target: mailJobs.id, set: { status: 'dead', claimedUntil: null }, setWhere: eq(mailJobs.status, 'pending') })
}

/** Mails an address has been sent in the hour before `now`. */
export async function mailsSentWithinHour(db: Database, key: string, now: Date): Promise<number> {
  const [row] = await db
    .select({ sent: count() })
    .from(mailJobs)
    .where(and(eq(mailJobs.addressKey, key), eq(mailJobs.status, 'sent'), gt(mailJobs.sentAt, new Date(now.getTime() - 3_600_000))))
  return row?.sent ?? 0
}

/**
 * Stores a new token for a user, superseding every earlier unused one of the same purpose, and
 * records the request when it is a reset, in one batch.
 */
export async function issueMailToken(
  db: Database,
  input: { userId: string; purpose: MailTokenPurpose; tokenHash: string; boundTo: string; ttlSeconds: number; now: Date },
): Promise<void> {
  const { userId, purpose, now } = input
  await db.batch([
    db.delete(mailTokens).where(and(eq(mailTokens.userId, userId), eq(mailTokens.purpose, purpose), isNull(mailTokens.usedAt))),
    db.insert(mailTokens).values({
      id: uuidv7(now.getTime()),
      userId,
      purpose,
      tokenHash: input.tokenHash,
      boundTo: input.boundTo,
      createdAt: now,
      expiresAt: new Date(now.getTime() + input.ttlSeconds * 1000),
    }),
    ...(purpose === 'password_reset'
      ? [auditStatement(db, { action: 'user.password_reset_requested', actorId: userId, targetId: userId }, CONSUMER, now)]
      : []),
  ])
}

/** A live token of a purpose with the account it belongs to, or undefined (unknown, used or expired). */
export async function findLiveMailToken(db: Database, input: { tokenHash: string; purpose: MailTokenPurpose; now: Date }) {
  return db
    .select({ token: mailTokens, user: users })
    .from(mailTokens)
    .innerJoin(users, eq(users.id, mailTokens.userId))
    .where(
      and(
        eq(mailTokens.tokenHash, input.tokenHash),
        eq(mailTokens.purpose, input.purpose),
        isNull(mailTokens.usedAt),
        gt(mailTokens.expiresAt, input.now),
      ),
    )
    .get()
}

/**
 * A reset: spends the token and sets the password only while the account still has the password
 * hash the token was read with, then ends every session, drops other unused reset tokens, marks
 * the address verified and records it, all in one batch. Returns the updated user, or undefined
 * when a concurrent reset or password change got there first.
 */
export async function resetPassword(
  db: Database,
  input: { tokenId: string; userId: string; oldHash: string | null; newHash: string; client: Client; now: Date },
): Promise<UserRow | undefined> {
  const { tokenId, userId, now } = input
  const tokenUnused = and(eq(mailTokens.id, tokenId), isNull(mailTokens.usedAt), gt(mailTokens.expiresAt, now))
  const changed = sql`EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND password_hash = ${input.newHash})`
  const [, [user]] = await db.batch([
    db.update(mailTokens).set({ usedAt: now }).where(tokenUnused),
    // The token was spent by this very batch only if its used_at is now and the hash is still the old one.
    db
      .update(users)
      .set({ passwordHash: input.newHash, emailVerified: true, updatedAt: now })
      .where(
        and(
          eq(users.id, userId),
          input.oldHash === null ? isNull(users.passwordHash) : eq(users.passwordHash, input.oldHash),
          sql`EXISTS (SELECT 1 FROM mail_tokens WHERE id = ${tokenId} AND used_at = ${now.getTime()})`,
        ),
      )
      .returning(),
    db.delete(sessions).where(and(eq(sessions.userId, userId), changed)),
    db
      .delete(mailTokens)
      .where(and(eq(mailTokens.userId, userId), eq(mailTokens.purpose, 'password_reset'), isNull(mailTokens.usedAt), changed)),
    auditStatementWhen(db, { action: 'user.password_reset', actorId: userId, targetId: userId }, input.client, now, changed),
  ])
  return user
}

/**
 * A verification: spends the token and marks the address verified only while the account still
 * has the address the token was sent to, with its event. Returns the updated user, or undefined.
 */
export async function verifyEmail(
  db: Database,
  input: { tokenId: string; userId: string; email: string; client: Client; now: Date },
): Promise<UserRow | undefined> {
  const { tokenId, userId, now } = input
  const spentNow = sql`EXISTS (SELECT 1 FROM mail_tokens WHERE id = ${tokenId} AND used_at = ${now.getTime()})`
  const [, [user]] = await db.batch([
    db
      .update(mailTokens)
      .set({ usedAt: now })
      .where(and(eq(mailTokens.id, tokenId), isNull(mailTokens.usedAt), gt(mailTokens.expiresAt, now))),
    db
      .update(users)
      .set({ emailVerified: true, updatedAt: now })
      .where(and(eq(users.id, userId), eq(users.email, input.email), spentNow))
      .returning(),
    auditStatementWhen(
      db,
      { action: 'user.email_verified', actorId: userId, targetId: userId },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND email = ${input.email} AND email_verified = 1) AND ${spentNow}`,
    ),
  ])
  return user
}
