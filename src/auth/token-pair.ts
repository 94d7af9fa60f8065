import type { z } from '@hono/zod-openapi'
import type { UserRow } from '../db/schema'
import type { Config } from '../env'
import { publicUser, type tokenPairSchema } from '../schemas'
import { signAccessToken } from './tokens'

/** The body login and refresh answer with: a fresh access token beside the session's refresh token. */
export async function tokenPair(
  config: Config,
  user: UserRow,
  session: { id: string; expiresAt: Date; refreshToken: string },
  now: Date,
): Promise<z.infer<typeof tokenPairSchema>> {
  const nowSeconds = Math.floor(now.getTime() / 1000)
  const accessToken = await signAccessToken(config, { userId: user.id, sessionId: session.id, role: user.role }, nowSeconds)
  return {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: config.accessTokenTtlSeconds,
    refresh_token: session.refreshToken,
    refresh_expires_in: Math.max(0, Math.floor((session.expiresAt.getTime() - now.getTime()) / 1000)),
    user: publicUser(user),
  }
}
