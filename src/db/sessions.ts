import { and, desc, eq, getTableColumns, gt, or, sql } from 'drizzle-orm'
import { memoize } from '../lib/memo'
import { auditStatement, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { sessions, spentRefreshTokens, users } from './schema'
import { recordLoginStatement } from './users'

/** User agents are stored to help people recognise their sessions, cut to a sane length. */
const MAX_USER_AGENT = 256

/**
 * A successful login: the new session, the account's last_login_at and last_auth_at (which ends
 * its failure streak at the limiter's next admission) with a re-hashed password when one is due,
 * and the `user.login` event, in one batch. Every statement holds only while the account still has
 * the password hash the login checked, so a password changed meanwhile wins: no session, no
 * re-hash over the new password. Returns whether the session was started.
 */
export async function startSession(
  db: Database,
  input: {
    id: string
    userId: string
    refreshTokenHash: string
    userAgent: string | undefined
    expiresAt: Date
    checkedPasswordHash: string
    newPasswordHash: string | undefined
    client: Client
    now: Date
  },
): Promise<boolean> {
  const { id, userId, now } = input
  const stillTheSamePassword = and(eq(users.id, userId), eq(users.passwordHash, input.checkedPasswordHash))
  const [started] = await db.batch([
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
          })
          .from(users)
          .where(stillTheSamePassword),
      )
      .returning({ id: sessions.id }),
    auditStatementWhen(
      db,
      { action: 'user.login', actorId: userId, targetId: userId, details: { session_id: id } },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM sessions WHERE id = ${id})`,
    ),
    // Last: it may replace the hash the statements above compare with.
    recordLoginStatement(db, { userId, checkedPasswordHash: input.checkedPasswordHash, newPasswordHash: input.newPasswordHash, now }),
  ])
  return started.length > 0
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

/**
 * Rotates a refresh token in one D1 batch (a transaction): the session takes the new hash only if
 * it still holds the old one and has not expired, and the session's user is read back. Of many
 * simultaneous rotations of one token, the database serialises them and exactly one matches. A
 * token that names its session (`sessionId`) is looked for in that session alone; one from before
 * tokens named their session also has its old hash recorded as spent, to recognise a replay.
 */
export async function rotateRefreshToken(db: Database, input: { sessionId?: string; oldHash: string; newHash: string; now: Date }) {
  const stillCurrent = and(eq(sessions.refreshTokenHash, input.oldHash), gt(sessions.expiresAt, input.now))
  const rotate = db
    .update(sessions)
    .set({ refreshTokenHash: input.newHash, lastUsedAt: input.now, rotations: sql`${sessions.rotations} + 1` })
    .where(input.sessionId ? and(eq(sessions.id, input.sessionId), stillCurrent) : stillCurrent)
    .returning({ id: sessions.id, expiresAt: sessions.expiresAt })
  // Only the user's columns: in a batch, rows are mapped by column name, and both tables have `id`.
  const owner = db
    .select(getTableColumns(users))
    .from(users)
    .innerJoin(sessions, eq(sessions.userId, users.id))
    .where(eq(sessions.refreshTokenHash, input.newHash))
  if (input.sessionId) {
    const [[session], [user]] = await db.batch([rotate, owner])
    return session && user ? { session, user } : undefined
  }
  const [[session], , [user]] = await db.batch([
    rotate,
    db
      .insert(spentRefreshTokens)
      .select(
        db
          .select({
            tokenHash: sql<string>`${input.oldHash}`.as('token_hash'),
            sessionId: sessions.id,
            spentAt: sql<number>`${input.now.getTime()}`.as('spent_at'),
          })
          .from(sessions)
          .where(eq(sessions.refreshTokenHash, input.newHash)),
      )
      // A retried rotation finds its replacement already in place and the old token already spent.
      .onConflictDoNothing(),
    owner,
  ])
  return session && user ? { session, user } : undefined
}

/** What a presented refresh token that names a session is checked against when it is not current. */
export async function findRefreshState(db: Database, sessionId: string) {
  return db
    .select({
      sessionId: sessions.id,
      userId: sessions.userId,
      refreshTokenHash: sessions.refreshTokenHash,
      rotations: sessions.rotations,
      rotatedAt: sessions.lastUsedAt,
    })
    .from(sessions)
    .where(eq(sessions.id, sessionId))
    .get()
}

/** The session a rotated-away refresh token from before tokens named their session belonged to. */
export async function findSessionOfSpentToken(db: Database, tokenHash: string) {
  return db
    .select({
      sessionId: spentRefreshTokens.sessionId,
      userId: sessions.userId,
      spentAt: spentRefreshTokens.spentAt,
      currentHash: sessions.refreshTokenHash,
      expiresAt: sessions.expiresAt,
    })
    .from(spentRefreshTokens)
    .innerJoin(sessions, eq(sessions.id, spentRefreshTokens.sessionId))
    .where(eq(spentRefreshTokens.tokenHash, tokenHash))
    .get()
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

/** Logout: the caller's session, and the session of a refresh token they hold if it is theirs too, with the event. */
export async function logout(
  db: Database,
  input: { sessionId: string; userId: string; refreshTokenHash: string | undefined; client: Client; now: Date },
): Promise<void> {
  const { sessionId, userId } = input
  const byToken = input.refreshTokenHash
    ? and(eq(sessions.refreshTokenHash, input.refreshTokenHash), eq(sessions.userId, userId))
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
