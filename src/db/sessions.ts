import { and, desc, eq, getTableColumns, gt, or, sql } from 'drizzle-orm'
import type { BatchItem } from 'drizzle-orm/batch'
import type { SQL } from 'drizzle-orm/sql'
import type { Assurance } from '../auth/assurance'
import { memoize } from '../lib/memo'
import { auditStatement, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { endGrantsOf } from './oauth-grants'
import { type SessionHolder, sessions, users } from './schema'

/** User agents are stored to help people recognise their sessions, cut to a sane length. */
const MAX_USER_AGENT = 256

/**
 * What a sign-in's proof adds to the write that opens its session: a condition on the account's
 * row that holds only while what the proof was checked against is still current (the password
 * hash it verified, say), and the statements that record the proof on the account (its
 * last_auth_at, a re-hash). Made by the proof's own module in db/, composed by the sign-in layer.
 */
export type ProofWrite = {
  guard: SQL | undefined
  records: BatchItem<'sqlite'>[]
  /** Writes that spend the proof (a TOTP step, a sign-in step), run first in the session's batch; the guard checks they did. */
  before?: BatchItem<'sqlite'>[]
  /** A re-hash that is due, for a caller that writes it on its own (a sign-in that needs a second step). */
  rehash?: Rehash
}

/**
 * Whether a proof's guard holds now: read after a refused batch, it tells whether this request's
 * own spend landed (so something else refused it) or a rival's did.
 */
export async function guardHolds(db: Database, guard: SQL | undefined): Promise<boolean> {
  if (!guard) return true
  const row = await db.get<{ held: number }>(sql`SELECT 1 AS held WHERE ${guard}`)
  return row !== undefined && row !== null
}

/** A password checked under old parameters, to be stored again under today's. */
export type Rehash = { userId: string; checkedHash: string; newHash: string }

/** Several proofs checked together (a password and a second factor): every guard, every record. */
export const allOf = (writes: ProofWrite[]): ProofWrite => ({
  guard: and(...writes.map((write) => write.guard)),
  records: writes.flatMap((write) => write.records),
  before: writes.flatMap((write) => write.before ?? []),
})

/**
 * A successful sign-in: the new session with its assurance, the `user.login` event and the
 * proof's records, in one batch. Every statement holds only while the proof's guard does, so a
 * password changed meanwhile wins: no session, no re-hash over the new password. Returns whether
 * the session was started.
 */
export async function startSession(
  db: Database,
  input: {
    id: string
    userId: string
    /** The hash of what holds the session: its refresh token, or its browser's cookie. */
    refreshTokenHash: string
    holder: SessionHolder
    userAgent: string | undefined
    expiresAt: Date
    assurance: Assurance
    proof: ProofWrite
    client: Client
    now: Date
  },
): Promise<boolean> {
  const { id, userId, now, assurance } = input
  const before = input.proof.before ?? []
  const results = await db.batch([
    // First: the spends the guard below checks (a TOTP step, a sign-in step), each conditional.
    ...before,
    db
      .insert(sessions)
      .select(
        db
          .select({
            id: sql<string>`${id}`.as('id'),
            userId: users.id,
            refreshTokenHash: sql<string>`${input.refreshTokenHash}`.as('refresh_token_hash'),
            rotations: sql<number>`0`.as('rotations'),
            userAgent: sql<string | null>`${input.userAgent?.slice(0, MAX_USER_AGENT) ?? null}`.as('user_agent'),
            createdAt: sql<number>`${now.getTime()}`.as('created_at'),
            lastUsedAt: sql<number>`${now.getTime()}`.as('last_used_at'),
            expiresAt: sql<number>`${input.expiresAt.getTime()}`.as('expires_at'),
            authTime: sql<number>`${assurance.authTime.getTime()}`.as('auth_time'),
            amr: sql<string>`${JSON.stringify(assurance.amr)}`.as('amr'),
            aal: sql<string>`${assurance.aal}`.as('aal'),
            holder: sql<SessionHolder>`${input.holder}`.as('holder'),
            activeOrgId: sql<string | null>`NULL`.as('active_org_id'),
          })
          .from(users)
          .where(and(eq(users.id, userId), input.proof.guard)),
      )
      .returning({ id: sessions.id }),
    auditStatementWhen(
      db,
      { action: 'user.login', actorId: userId, targetId: userId, details: { session_id: id, amr: assurance.amr.join(' ') } },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM sessions WHERE id = ${id})`,
    ),
    // Last: they may change what the statements above compare with (a re-hash replaces the hash).
    ...input.proof.records,
  ] as unknown as [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]])
  const started = results[before.length] as { id: string }[]
  return started.length > 0
}

/**
 * A re-authentication: the session's proof is now, with the assurance the proofs reached, the
 * account's failure streak ends (its proof records), and the event; only while the proofs' guard
 * holds and the session is live. Returns whether the session took it.
 */
export async function reauthenticateSession(
  db: Database,
  input: { sessionId: string; userId: string; assurance: Assurance; proof: ProofWrite; client: Client; now: Date },
): Promise<boolean> {
  const { sessionId, userId, assurance, now } = input
  const before = input.proof.before ?? []
  const results = await db.batch([
    // First: the spends the guard below checks (a passkey's counter), each conditional.
    ...before,
    db
      .update(sessions)
      .set({ authTime: assurance.authTime, amr: assurance.amr, aal: assurance.aal })
      .where(
        and(
          eq(sessions.id, sessionId),
          eq(sessions.userId, userId),
          gt(sessions.expiresAt, now),
          sql`EXISTS (SELECT 1 FROM users WHERE ${and(eq(users.id, userId), input.proof.guard)})`,
        ),
      )
      .returning({ id: sessions.id }),
    auditStatementWhen(
      db,
      {
        action: 'user.reauthenticated',
        actorId: userId,
        targetId: userId,
        details: { session_id: sessionId, amr: assurance.amr.join(' ') },
      },
      { ip: input.client.ip, userAgent: input.client.userAgent },
      now,
      sql`EXISTS (SELECT 1 FROM sessions WHERE id = ${sessionId} AND auth_time = ${assurance.authTime.getTime()})`,
    ),
    ...input.proof.records,
  ] as unknown as [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]])
  const updated = results[before.length] as { id: string }[]
  return updated.length > 0
}

const authenticatedSession = memoize((db: Database) =>
  db
    .select({ session: sessions, user: users })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(
      and(
        eq(sessions.id, sql.placeholder('sessionId')),
        eq(sessions.userId, sql.placeholder('userId')),
        gt(sessions.expiresAt, sql.placeholder('now')),
        eq(users.disabled, false),
        // Only a token pair's session: a browser's is never handed an access token.
        eq(sessions.holder, 'api'),
      ),
    )
    .prepare(),
)

/**
 * The session an access token names, with its user, in one primary-key lookup. Nothing comes back
 * once the session has ended (logout, revocation, expiry) or the user is disabled, so those take
 * effect on the very next request.
 */
export async function findAuthenticatedSession(db: Database, sessionId: string, userId: string, now: Date) {
  // A placeholder is bound as given, so the time goes in as the column stores it: milliseconds.
  return authenticatedSession(db).get({ sessionId, userId, now: now.getTime() })
}

/** A browser session's last use is written at most this often: a page view costs no write otherwise. */
const TOUCH_EVERY_MS = 3_600_000

/**
 * The session a browser's cookie holds, with its user: live, held by a browser, the cookie's hash
 * its own, the account enabled. A session whose last use is over an hour old is marked used now
 * (that is the only write a signed-in page view makes).
 */
export async function findBrowserSession(db: Database, input: { sessionId: string; cookieHash: string; now: Date }) {
  const found = await db
    .select({ session: sessions, user: users })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(
      and(
        eq(sessions.id, input.sessionId),
        eq(sessions.refreshTokenHash, input.cookieHash),
        eq(sessions.holder, 'browser'),
        gt(sessions.expiresAt, input.now),
        eq(users.disabled, false),
      ),
    )
    .get()
  if (found && input.now.getTime() - found.session.lastUsedAt.getTime() >= TOUCH_EVERY_MS) {
    await db.update(sessions).set({ lastUsedAt: input.now }).where(eq(sessions.id, input.sessionId))
    found.session.lastUsedAt = input.now
  }
  return found
}

/**
 * Rotates a refresh token in one D1 batch (a transaction): the session takes the new hash only if
 * it still holds the old one and has not expired, and the session's user is read back. Of many
 * simultaneous rotations of one token, the database serialises them and exactly one matches.
 */
export async function rotateRefreshToken(db: Database, input: { sessionId: string; oldHash: string; newHash: string; now: Date }) {
  const [[session], [user]] = await db.batch([
    db
      .update(sessions)
      .set({ refreshTokenHash: input.newHash, lastUsedAt: input.now, rotations: sql`${sessions.rotations} + 1` })
      .where(
        and(
          eq(sessions.id, input.sessionId),
          eq(sessions.refreshTokenHash, input.oldHash),
          gt(sessions.expiresAt, input.now),
          eq(sessions.holder, 'api'),
        ),
      )
      .returning({
        id: sessions.id,
        expiresAt: sessions.expiresAt,
        authTime: sessions.authTime,
        amr: sessions.amr,
        aal: sessions.aal,
        activeOrgId: sessions.activeOrgId,
      }),
    // Only the user's columns: in a batch, rows are mapped by column name, and both tables have `id`.
    db
      .select(getTableColumns(users))
      .from(users)
      .innerJoin(sessions, eq(sessions.userId, users.id))
      .where(and(eq(sessions.id, input.sessionId), eq(sessions.refreshTokenHash, input.newHash))),
  ])
  return session && user ? { session, user } : undefined
}

/** What a presented refresh token is checked against when it is not its session's current one. */
export async function findRefreshState(db: Database, sessionId: string) {
  return (
    db
      .select({
        sessionId: sessions.id,
        userId: sessions.userId,
        refreshTokenHash: sessions.refreshTokenHash,
        rotations: sessions.rotations,
        rotatedAt: sessions.lastUsedAt,
      })
      .from(sessions)
      // A browser's session is never refreshed: its cookie is no refresh token, fresh or replayed.
      .where(and(eq(sessions.id, sessionId), eq(sessions.holder, 'api')))
      .get()
  )
}

/** A live session with its user, for answering a retried refresh. */
export async function findLiveSession(db: Database, sessionId: string, now: Date) {
  return db
    .select({ session: sessions, user: users })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.id, sessionId), gt(sessions.expiresAt, now)))
    .get()
}

/** Ends a session whose refresh token was presented after its rotation: a copy is in other hands. */
export async function revokeReusedSession(
  db: Database,
  input: { sessionId: string; userId: string; client: Client; now: Date },
): Promise<void> {
  await db.batch([
    db.delete(sessions).where(eq(sessions.id, input.sessionId)),
    auditStatement(
      db,
      { action: 'session.reuse_detected', targetId: input.userId, details: { session_id: input.sessionId } },
      input.client,
      input.now,
    ),
  ])
}

/** Ends one session without an event: for a session whose account was disabled as it refreshed. */
export async function endSession(db: Database, sessionId: string): Promise<void> {
  await db.delete(sessions).where(eq(sessions.id, sessionId))
}

/**
 * Logout: the caller's session, and the session of a refresh token they hold (its session and its
 * current hash) if that session is theirs too, with the event.
 */
export async function logout(
  db: Database,
  input: { sessionId: string; userId: string; refreshToken: { sessionId: string; hash: string } | undefined; client: Client; now: Date },
): Promise<void> {
  const { sessionId, userId, refreshToken } = input
  const byToken = refreshToken
    ? and(eq(sessions.id, refreshToken.sessionId), eq(sessions.refreshTokenHash, refreshToken.hash), eq(sessions.userId, userId))
    : undefined
  await db.batch([
    db.delete(sessions).where(byToken ? or(eq(sessions.id, sessionId), byToken) : eq(sessions.id, sessionId)),
    auditStatement(
      db,
      { action: 'user.logout', actorId: userId, targetId: userId, details: { session_id: sessionId } },
      input.client,
      input.now,
    ),
  ])
}

/** Deletes one session of a user, audited in the same batch; false when the user has no such session. */
export async function endUserSession(
  db: Database,
  input: { userId: string; sessionId: string; client: Client; now: Date },
): Promise<boolean> {
  const owned = and(eq(sessions.id, input.sessionId), eq(sessions.userId, input.userId))
  const [, deleted] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'user.session_revoked', actorId: input.userId, targetId: input.userId, details: { session_id: input.sessionId } },
      input.client,
      input.now,
      sql`EXISTS (SELECT 1 FROM sessions WHERE ${owned})`,
    ),
    db.delete(sessions).where(owned).returning({ id: sessions.id }),
  ])
  return deleted.length > 0
}

/** An admin or moderator signs a user out everywhere, with the event. */
export async function endAllSessions(db: Database, input: { userId: string; actorId: string; client: Client; now: Date }): Promise<void> {
  await db.batch([
    auditStatement(db, { action: 'admin.sessions_revoked', actorId: input.actorId, targetId: input.userId }, input.client, input.now),
    db.delete(sessions).where(eq(sessions.userId, input.userId)),
    endGrantsOf(db, input.userId),
  ])
}

/** Every session row a user has (expired ones too, until the daily upkeep), newest first. */
export async function listAllSessions(db: Database, userId: string) {
  return db.select().from(sessions).where(eq(sessions.userId, userId)).orderBy(desc(sessions.createdAt), desc(sessions.id))
}

/** A user's live sessions, newest first. */
export async function listActiveSessions(db: Database, userId: string, now: Date) {
  return db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.createdAt), desc(sessions.id))
}
