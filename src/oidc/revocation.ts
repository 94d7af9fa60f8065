import { hashOpaqueToken, rotationsBehind, sessionOfRefreshToken } from '../auth/opaque-tokens'
import { verifyClientAccessToken } from '../auth/tokens'
import { endGrant, findGrant } from '../db/oauth-grants'
import type { OAuthClientRow } from '../db/schema'
import type { SignInContext } from '../sign-in/context'
import { OAuthError } from './oauth-error'

/**
 * RFC 7009 revocation: a client ends a grant it holds a token of, a refresh token (current or
 * rotated away) or an access token of that grant; the grant goes with every token it issued. A
 * token of another client is refused (§2.1) and changes nothing; anything we never issued is
 * answered 200, as the RFC asks (§2.2), so there is nothing to probe. A machine token
 * (client_credentials) has no grant: it lapses within ACCESS_TOKEN_TTL_SECONDS, or at once for
 * introspection when its client is deleted.
 */
export async function revokeToken(ctx: SignInContext, client: OAuthClientRow, token: string): Promise<void> {
  const grantId = sessionOfRefreshToken(token) ?? (await grantOfAccessToken(ctx, client, token))
  if (!grantId) return
  const grant = await findGrant(ctx.db, grantId)
  if (!grant) return
  if (sessionOfRefreshToken(token)) {
    // A refresh token must be one of this grant's chain: a made-up one naming a real grant revokes nothing.
    const current = grant.refreshTokenHash !== null && (await hashOpaqueToken(token)) === grant.refreshTokenHash
    const earlier =
      !current &&
      grant.refreshTokenHash !== null &&
      (await rotationsBehind(ctx.config.refreshKey, token, { ...grant, sessionId: grant.id, refreshTokenHash: grant.refreshTokenHash })) !==
        undefined
    if (!current && !earlier) return
  }
  if (grant.clientId !== client.id) throw new OAuthError('unauthorized_client', 'That token was not issued to this client.')
  await endGrant(ctx.db, { grantId, userId: grant.userId, action: 'oauth.grant_revoked', actorId: null, client: ctx.caller, now: ctx.now })
}

async function grantOfAccessToken(ctx: SignInContext, client: OAuthClientRow, token: string): Promise<string | undefined> {
  const claims = await verifyClientAccessToken(ctx.config.keys, ctx.config.publicUrl, token, Math.floor(ctx.now.getTime() / 1000))
  if (!claims) return undefined
  if (claims.client_id !== client.id) throw new OAuthError('unauthorized_client', 'That token was not issued to this client.')
  return claims.grant_id
}
