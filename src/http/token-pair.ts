import type { TokenPair } from '../schemas/token-pair'
import type { Grant } from '../sign-in/grant'
import { userView } from '../views/user'

/** The body a sign-in and a refresh answer with: the grant's access token beside the session's refresh token. */
export function tokenPairOf(grant: Grant): TokenPair {
  const { session, issuedAt } = grant
  return {
    access_token: grant.accessToken,
    token_type: 'Bearer',
    expires_in: grant.expiresIn,
    refresh_token: session.refreshToken,
    refresh_expires_in: Math.max(0, Math.floor((session.expiresAt.getTime() - issuedAt.getTime()) / 1000)),
    user: userView(grant.user),
  }
}
