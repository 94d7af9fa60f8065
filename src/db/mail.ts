import { and, count, eq, gt, gte, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm'
import { sha256, toBase64Url } from '../lib/encoding'
import { uuidv7 } from '../lib/ids'
import { auditStatement, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { removeUnverifiedWaysIn } from './first-proof'
import { endGrantsOf } from './oauth-grants'
import { type MailJobStatus, type MailTokenPurpose, mailJobs, oneTimeTokens, sessions, type UserRow, users } from './schema'
import { guardUnique, type UniqueWrite } from './users'

/** Jobs run by the queue consumer have no HTTP client behind them. */
const CONSUMER: Client = { ip: null, userAgent: 'mail queue' }

/**
 * What a reset token is bound to: a fingerprint of the password hash it would replace (or of
 * there being none) and of the address it was sent to, so any change of the stored hash (a reset,
 * a password change) or of the address leaves the token dead.
 */
export async function resetBinding(user: { passwordHash: string | null; email: string }): Promise<string> {
  return toBase64Url(await sha256(`password:${user.passwordHash ?? 'none'}\naddress:${user.email}`))
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
 * Stores a new token for a user, superseding every earlier unused one of the same purpose (except
 * revert links: each undoes its own change and every later one, so none is superseded), and
 * records the request when it is a reset, in one batch.
 */
export async function issueMailToken(
  db: Database,
  input: { userId: string; purpose: MailTokenPurpose; tokenHash: string; boundTo: string; ttlSeconds: number; now: Date },
): Promise<void> {
  const { userId, purpose, now } = input
  const id = uuidv7(now.getTime())
  await db.batch([
    db.insert(oneTimeTokens).values({
      id,
      userId,
      purpose,
      tokenHash: input.tokenHash,
      boundTo: input.boundTo,
      createdAt: now,
      expiresAt: new Date(now.getTime() + input.ttlSeconds * 1000),
    }),
    db
      .delete(oneTimeTokens)
      .where(
        and(
          eq(oneTimeTokens.userId, userId),
          eq(oneTimeTokens.purpose, purpose),
          isNull(oneTimeTokens.usedAt),
          ne(oneTimeTokens.id, id),
          sql`${purpose} <> 'email_revert'`,
        ),
      ),
    ...(purpose === 'password_reset'
      ? [auditStatement(db, { action: 'user.password_reset_requested', actorId: userId, targetId: userId }, CONSUMER, now)]
      : []),
  ])
}

/** Whether a token of this id was spent by the batch running at `now` (its used_at is exactly now). */
const spentAt = (tokenId: string, now: Date) => sql`EXISTS (SELECT 1 FROM mail_tokens WHERE id = ${tokenId} AND used_at = ${now.getTime()})`

/**
 * A reset: spends the token and sets the password only while the account still has the password
 * hash and the address the token was read with, then ends every session, drops other unused
 * reset tokens and any pending address change, marks the address verified (the link went to
 * it; on its first proof, every way in added before it goes: first-proof.ts) and records it, all
 * in one batch (the route then ends the login backoff at the limiter).
 * Returns the updated user, or undefined when a concurrent reset or change got there first.
 */
export async function resetPassword(
  db: Database,
  input: { tokenId: string; user: Pick<UserRow, 'id' | 'passwordHash' | 'email'>; newHash: string; client: Client; now: Date },
): Promise<UserRow | undefined> {
  const { tokenId, user, now } = input
  const userId = user.id
  const tokenUnused = and(eq(oneTimeTokens.id, tokenId), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, now))
  const changed = sql`EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND password_hash = ${input.newHash})`
  const asRead = and(
    eq(users.id, userId),
    user.passwordHash === null ? isNull(users.passwordHash) : eq(users.passwordHash, user.passwordHash),
    eq(users.email, user.email),
  )
  const resets = sql`${spentAt(tokenId, now)} AND EXISTS (SELECT 1 FROM users WHERE ${asRead})`
  const [, , , , , , , , , , [updated]] = await db.batch([
    db.update(oneTimeTokens).set({ usedAt: now }).where(tokenUnused),
    // Before the address is marked verified: a first proof of it takes back what was added unproved.
    ...removeUnverifiedWaysIn(db, { userId, when: resets, client: input.client, now }),
    db
      .update(users)
      .set({ passwordHash: input.newHash, emailVerified: true, pendingEmail: null, updatedAt: now })
      .where(and(asRead, spentAt(tokenId, now)))
      .returning(),
    db.delete(sessions).where(and(eq(sessions.userId, userId), changed)),
    db
      .delete(oneTimeTokens)
      .where(
        and(
          eq(oneTimeTokens.userId, userId),
          inArray(oneTimeTokens.purpose, ['password_reset', 'email_change']),
          isNull(oneTimeTokens.usedAt),
          changed,
        ),
      ),
    auditStatementWhen(db, { action: 'user.password_reset', actorId: userId, targetId: userId }, input.client, now, changed),
    endGrantsOf(db, userId, changed),
  ])
  return updated
}

/**
 * An address change confirmed by the new address: spends the token and makes the pending address
 * the account's, verified, only while it is still the pending one; drops the other unused
 * verification and change tokens; records it. Sessions stay: the owner may be the one who asked.
 * Returns the updated user, or no user (a concurrent confirmation or a newer change won), or
 * `taken` when another account took the address meanwhile (the one convention: users.ts guardUnique).
 */
export async function confirmEmailChange(
  db: Database,
  input: { tokenId: string; userId: string; oldEmail: string; newEmail: string; client: Client; now: Date },
): Promise<UniqueWrite> {
  return guardUnique(async () => {
    const { tokenId, userId, now } = input
    const changed = sql`${spentAt(tokenId, now)} AND EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND email = ${input.newEmail})`
    const [, [user]] = await db.batch([
      db
        .update(oneTimeTokens)
        .set({ usedAt: now })
        .where(and(eq(oneTimeTokens.id, tokenId), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, now))),
      db
        .update(users)
        .set({ email: input.newEmail, emailVerified: true, pendingEmail: null, updatedAt: now })
        .where(and(eq(users.id, userId), eq(users.email, input.oldEmail), eq(users.pendingEmail, input.newEmail), spentAt(tokenId, now)))
        .returning(),
      db
        .delete(oneTimeTokens)
        .where(
          and(
            eq(oneTimeTokens.userId, userId),
            inArray(oneTimeTokens.purpose, ['email_verification', 'email_change']),
            isNull(oneTimeTokens.usedAt),
            changed,
          ),
        ),
      auditStatementWhen(
        db,
        { action: 'user.email_changed', actorId: userId, targetId: userId, details: { via: 'new_address_link' } },
        input.client,
        now,
        changed,
      ),
    ])
    return user
  })
}

/**
 * The old address's revert link: puts that address back, verified, drops any pending change,
 * ends every session, and kills the revert links of later changes (this one undoes them too;
 * earlier ones stay, so the first owner always has the last word). One batch; returns the user,
 * or undefined when the token was spent meanwhile.
 */
export async function revertEmailChange(
  db: Database,
  input: { token: { id: string; createdAt: Date }; userId: string; restoreEmail: string; client: Client; now: Date },
): Promise<UniqueWrite> {
  return guardUnique(async () => {
    const { token, userId, now } = input
    const reverted = spentAt(token.id, now)
    const [, [user]] = await db.batch([
      db
        .update(oneTimeTokens)
        .set({ usedAt: now })
        .where(and(eq(oneTimeTokens.id, token.id), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, now))),
      db
        .update(users)
        .set({ email: input.restoreEmail, emailVerified: true, pendingEmail: null, updatedAt: now })
        .where(and(eq(users.id, userId), reverted))
        .returning(),
      db.delete(sessions).where(and(eq(sessions.userId, userId), reverted)),
      db
        .delete(oneTimeTokens)
        .where(
          and(
            eq(oneTimeTokens.userId, userId),
            isNull(oneTimeTokens.usedAt),
            ne(oneTimeTokens.id, token.id),
            or(ne(oneTimeTokens.purpose, 'email_revert'), gte(oneTimeTokens.createdAt, token.createdAt)),
            reverted,
          ),
        ),
      auditStatementWhen(
        db,
        { action: 'user.email_reverted', actorId: userId, targetId: userId },
        input.client,
        now,
        sql`${reverted} AND EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND email = ${input.restoreEmail})`,
      ),
      endGrantsOf(db, userId, reverted),
    ])
    return user
  })
}

/** Whether the account holds an unused revert link for this old address, sent since `since`. */
export async function hasLiveRevertLink(db: Database, input: { userId: string; address: string; since: Date; now: Date }) {
  const row = await db
    .select({ id: oneTimeTokens.id })
    .from(oneTimeTokens)
    .where(
      and(
        eq(oneTimeTokens.userId, input.userId),
        eq(oneTimeTokens.purpose, 'email_revert'),
        eq(oneTimeTokens.boundTo, input.address),
        isNull(oneTimeTokens.usedAt),
        gt(oneTimeTokens.expiresAt, input.now),
        gte(oneTimeTokens.createdAt, input.since),
      ),
    )
    .get()
  return row !== undefined
}

/**
 * A verification: spends the token and marks the address verified only while the account still
 * has the address the token was sent to, with its event. When it is the address's first proof,
 * every way in added before it and every session go (first-proof.ts). Returns the updated user,
 * or undefined.
 */
export async function verifyEmail(
  db: Database,
  input: { tokenId: string; userId: string; email: string; client: Client; now: Date },
): Promise<UserRow | undefined> {
  const { tokenId, userId, now } = input
  const spentNow = spentAt(tokenId, now)
  const verifies = sql`${spentNow} AND EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND email = ${input.email})`
  const [, , , , , , , , , , [user]] = await db.batch([
    db
      .update(oneTimeTokens)
      .set({ usedAt: now })
      .where(and(eq(oneTimeTokens.id, tokenId), isNull(oneTimeTokens.usedAt), gt(oneTimeTokens.expiresAt, now))),
    // Before the address is marked verified: a first proof of it takes back what was added unproved.
    ...removeUnverifiedWaysIn(db, { userId, when: verifies, client: input.client, now }),
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
