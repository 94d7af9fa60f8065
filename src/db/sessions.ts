import { and, desc, eq, getTableColumns, gt, ne, or, sql } from 'drizzle-orm'
import type { Database } from '../env'
import { auditStatementWhen, type Client } from './audit'
import { preparedQuery } from './prepared'
import { type SessionRow, sessions, spentRefreshTokens, type UserRow, users } from './schema'

export type AuthenticatedUser = UserRow
export type AuthenticatedSession = SessionRow

/** User agents are stored to help people recognise their sessions, cut to a sane length. */
const MAX_USER_AGENT = 256

export function insertSessionStatement(
  db: Database,
  input: { id: string; userId: string; refreshTokenHash: string; userAgent: string | undefined; now: Date; expiresAt: Date },
) {
  return db.insert(sessions).values({
    id: input.id,
    userId: input.userId,
    refreshTokenHash: input.refreshTokenHash,
    userAgent: input.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
    createdAt: input.now,
    lastUsedAt: input.now,
    expiresAt: input.expiresAt,
  })
}

const authenticatedSession = preparedQuery((db) =>
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
 * it still holds the old one and has not expired, the old hash is recorded as spent only if that
 * happened, and the session's user is read back. Of many simultaneous rotations of one token, the
 * database serialises them and exactly one matches.
 */
export async function rotateRefreshToken(db: Database, input: { oldHash: string; newHash: string; now: Date }) {
  const [rotated, , owners] = await db.batch([
    db
      .update(sessions)
      .set({ refreshTokenHash: input.newHash, lastUsedAt: input.now })
      .where(and(eq(sessions.refreshTokenHash, input.oldHash), gt(sessions.expiresAt, input.now)))
      .returning({ id: sessions.id, expiresAt: sessions.expiresAt }),
    db.insert(spentRefreshTokens).select(
      db
        .select({
          tokenHash: sql<string>`${input.oldHash}`.as('token_hash'),
          sessionId: sessions.id,
          spentAt: sql<number>`${input.now.getTime()}`.as('spent_at'),
        })
        .from(sessions)
        .where(eq(sessions.refreshTokenHash, input.newHash)),
    ),
    // Only the user's columns: in a batch, rows are mapped by column name, and both tables have `id`.
    db
      .select(getTableColumns(users))
      .from(users)
      .innerJoin(sessions, eq(sessions.userId, users.id))
      .where(eq(sessions.refreshTokenHash, input.newHash)),
  ])
  const [session] = rotated
  const [user] = owners
  return session && user ? { session, user } : undefined
}

/** The session a rotated-away refresh token belonged to, if it still exists. */
export async function findSessionOfSpentToken(db: Database, tokenHash: string) {
  return db
    .select({ sessionId: spentRefreshTokens.sessionId, userId: sessions.userId })
    .from(spentRefreshTokens)
    .innerJoin(sessions, eq(sessions.id, spentRefreshTokens.sessionId))
    .where(eq(spentRefreshTokens.tokenHash, tokenHash))
    .get()
}

export function deleteSessionStatement(db: Database, sessionId: string) {
  return db.delete(sessions).where(eq(sessions.id, sessionId))
}

/** Ends the caller's session, and the session of a refresh token they hold, if it is theirs too. */
export function deleteSessionsForLogout(db: Database, input: { sessionId: string; userId: string; refreshTokenHash?: string }) {
  const byToken = input.refreshTokenHash
    ? and(eq(sessions.refreshTokenHash, input.refreshTokenHash), eq(sessions.userId, input.userId))
    : undefined
  return db.delete(sessions).where(byToken ? or(eq(sessions.id, input.sessionId), byToken) : eq(sessions.id, input.sessionId))
}

/** Deletes one session of a user, audited in the same batch; false when the user has no such session. */
export async function deleteUserSession(
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

export function deleteOtherSessionsStatement(db: Database, userId: string, keepSessionId: string) {
  return db.delete(sessions).where(and(eq(sessions.userId, userId), ne(sessions.id, keepSessionId)))
}

export function deleteAllSessionsStatement(db: Database, userId: string) {
  return db.delete(sessions).where(eq(sessions.userId, userId))
}

/** A user's live sessions, newest first. */
export async function listActiveSessions(db: Database, userId: string, now: Date) {
  return db
    .select()
    .from(sessions)
    .where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, now)))
    .orderBy(desc(sessions.createdAt), desc(sessions.id))
}
