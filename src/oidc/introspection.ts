import { verifyClientAccessToken } from '../auth/tokens'
import { findOAuthClient } from '../db/oauth-clients'
import { findLiveGrant } from '../db/oauth-grants'
import type { OAuthClientRow } from '../db/schema'
import type { SignInContext } from '../sign-in/context'
import { OAuthError } from './oauth-error'

/**
 * An access token issued to a client, if it still stands: our signature and claims, and then
 * what it was issued under: a person's token its grant (live, the client's, the account enabled,
 * the browser session held unless offline), a machine token its client (a deleted client's tokens
 * are dead). Undefined otherwise.
 */
export async function liveClientToken(ctx: SignInContext, token: string) {
  const claims = await verifyClientAccessToken(ctx.config.keys, ctx.config.publicUrl, token, Math.floor(ctx.now.getTime() / 1000))
  if (!claims) return undefined
  if (claims.grant_id === undefined) return (await findOAuthClient(ctx.db, claims.client_id)) ? { claims, grant: undefined } : undefined
  const live = await findLiveGrant(ctx.db, claims.grant_id, ctx.now)
  if (!live || live.grant.clientId !== claims.client_id || live.user.id !== claims.sub) return undefined
  return { claims, grant: live }
}

/**
 * RFC 7662 introspection, for confidential clients (a resource server is one): what a live token
 * issued to a client says, or `{active: false}` for anything else: expired, malformed, someone
 * else's signature, a first-party token of the account API, or a token whose grant or client has
 * ended since.
 */
export async function introspect(ctx: SignInContext, caller: OAuthClientRow, token: string) {
  if (caller.type !== 'confidential') throw new OAuthError('unauthorized_client', 'Introspection is for confidential clients.')
  const live = await liveClientToken(ctx, token)
  if (!live) return { active: false as const }
  const { grant_id: _grant, ...claims } = live.claims
  return { active: true as const, token_type: 'Bearer' as const, ...claims }
}
