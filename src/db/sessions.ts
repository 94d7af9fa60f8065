import type { Database } from '../env'
import { sessions, type SessionRow, type UserRow } from './schema'

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
