import type { Aal } from '../auth/assurance'
import { signAccessToken, type TokenSettings } from '../auth/tokens'
import type { UserRow } from '../db/schema'

/** A session as a token pair describes it: its id, refresh token, end, and how its user proved who they are. */
export type PairSession = {
  id: string
  expiresAt: Date
  refreshToken: string
  authTime: Date
  amr: string[]
  aal: Aal
  /** The organization the session works in, while its user is a member (the access token's display claims). */
  organization?: { id: string; slug: string; roles: string[] }
}

/**
 * A signed-in session as the caller hands it out: the account, the session (with its refresh
 * token and end), a fresh access token carrying the session's assurance, and when it was made. A
 * route turns it into the token pair (http/token-pair.ts); a page or an authorization endpoint into
 * its own answer. A refresh passes the session as stored, so it keeps the assurance the session was
 * opened (or last re-authenticated) with and never raises it.
 */
export type Grant = { user: UserRow; session: PairSession; accessToken: string; expiresIn: number; issuedAt: Date }

export async function grantFor(config: TokenSettings, user: UserRow, session: PairSession, now: Date): Promise<Grant> {
  return {
    user,
    session,
    accessToken: await accessTokenFor(config, user, session, now),
    expiresIn: config.accessTokenTtlSeconds,
    issuedAt: now,
  }
}

/** An access token for a session, carrying its assurance as stored (or as just re-established). */
export function accessTokenFor(config: TokenSettings, user: UserRow, session: Omit<PairSession, 'refreshToken' | 'expiresAt'>, now: Date) {
  const assurance = { authTime: session.authTime, amr: session.amr, aal: session.aal }
  const subject = { userId: user.id, sessionId: session.id, role: user.role, assurance, organization: session.organization }
  return signAccessToken(config, subject, Math.floor(now.getTime() / 1000))
}
