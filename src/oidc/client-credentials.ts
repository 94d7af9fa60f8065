import { signEdDsaJwt } from '../auth/tokens'
import { recordEvent } from '../db/audit'
import type { OAuthClientRow } from '../db/schema'
import type { SignInContext } from '../sign-in/context'
import { OAuthError } from './oauth-error'

/**
 * The audience a client's token is for (RFC 8707): the resource it asked for, which must be one
 * OAUTH_RESOURCES lists (or the issuer itself); with none asked, the issuer. One resource per
 * token: a token for two APIs would let either replay it at the other.
 */
export function audienceFor(config: { publicUrl: string; oauthResources: string[] }, resources: string[]): string {
  if (resources.length === 0) return config.publicUrl
  if (resources.length > 1) throw new OAuthError('invalid_target', 'Ask for one resource per token.')
  const [resource] = resources as [string]
  if (resource !== config.publicUrl && !config.oauthResources.includes(resource))
    throw new OAuthError('invalid_target', 'That resource is not one this server issues tokens for (OAUTH_RESOURCES).')
  return resource
}

/**
 * The client_credentials grant (RFC 6749 §4.4): a confidential client given the grant gets an
 * access token about itself (`sub` is its id), for one resource, without a refresh token or an ID
 * token. RFC 9068 claims; signed like every access token, but with this issuer (PUBLIC_URL) and
 * this audience, so the account API (its own issuer and audience) never accepts it.
 */
export async function clientCredentialsGrant(ctx: SignInContext, client: OAuthClientRow, input: { scope?: string; resources: string[] }) {
  if (client.type !== 'confidential' || !client.grantTypes.includes('client_credentials'))
    throw new OAuthError('unauthorized_client', 'This client may not use the client_credentials grant.')
  // No client holds scopes of its own yet, so a machine token carries none: a resource API trusts
  // it by its client_id, never by a scope the client wrote itself.
  if ((input.scope ?? '').trim() !== '')
    throw new OAuthError('invalid_scope', 'A machine client is granted no scopes; its token names the client.')
  const audience = audienceFor(ctx.config, input.resources)
  const now = Math.floor(ctx.now.getTime() / 1000)
  const ttl = ctx.config.accessTokenTtlSeconds
  const accessToken = await signEdDsaJwt(ctx.config.keys, 'at+jwt', {
    iss: ctx.config.publicUrl,
    sub: client.id,
    aud: audience,
    client_id: client.id,
    iat: now,
    exp: now + ttl,
    jti: crypto.randomUUID(),
  })
  await recordEvent(
    ctx.db,
    { action: 'oauth.token_issued', targetId: null, details: { client_id: client.id, grant_type: 'client_credentials', aud: audience } },
    ctx.caller,
    ctx.now,
  )
  return {
    access_token: accessToken,
    token_type: 'Bearer' as const,
    expires_in: ttl,
  }
}
