import type { Aal } from '../auth/assurance'
import { signAccessToken, type TokenSettings } from '../auth/tokens'
import type { UserRow } from '../db/schema'
import type { TokenPair } from '../schemas/token-pair'
import { publicUser } from '../schemas/user'

/** A session as a token pair describes it: its id, refresh token, end, and how its user proved who they are. */
export type PairSession = { id: string; expiresAt: Date; refreshToken: string; authTime: Date; amr: string[]; aal: Aal }

/**
 * The body a sign-in and a refresh answer with: a fresh access token carrying the session's
 * assurance, beside the session's refresh token. A refresh passes the session as stored, so it
 * keeps the assurance the session was opened (or last re-authenticated) with and never raises it.
 */
export async function tokenPair(config: TokenSettings, user: UserRow, session: PairSession, now: Date): Promise<TokenPair> {
  return {
    access_token: await accessTokenFor(config, user, session, now),
    token_type: 'Bearer',
    expires_in: config.accessTokenTtlSeconds,
    refresh_token: session.refreshToken,
    refresh_expires_in: Math.max(0, Math.floor((session.expiresAt.getTime() - now.getTime()) / 1000)),
    user: publicUser(user),
  }
}

/** An access token for a session, carrying its assurance as stored (or as just re-established). */
export function accessTokenFor(config: TokenSettings, user: UserRow, session: Omit<PairSession, 'refreshToken' | 'expiresAt'>, now: Date) {
  const assurance = { authTime: session.authTime, amr: session.amr, aal: session.aal }
  return signAccessToken(config, { userId: user.id, sessionId: session.id, role: user.role, assurance }, Math.floor(now.getTime() / 1000))
}
