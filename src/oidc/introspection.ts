import { verifyClientAccessToken } from '../auth/tokens'
import { findOAuthClient } from '../db/oauth-clients'
import type { OAuthClientRow } from '../db/schema'
import type { SignInContext } from '../sign-in/context'
import { OAuthError } from './oauth-error'

/**
 * RFC 7662 introspection, for confidential clients (a resource server is one): what a token
 * issued to a client says, or `{active: false}` for anything that is not a live one: expired,
 * malformed, someone else's signature, a first-party token of the account API, or a token of a
 * client deleted since (deleting a client revokes what it was given).
 */
export async function introspect(ctx: SignInContext, caller: OAuthClientRow, token: string) {
  if (caller.type !== 'confidential') throw new OAuthError('unauthorized_client', 'Introspection is for confidential clients.')
  const claims = await verifyClientAccessToken(ctx.config.keys, ctx.config.publicUrl, token, Math.floor(ctx.now.getTime() / 1000))
  if (!claims || !(await findOAuthClient(ctx.db, claims.client_id))) return { active: false as const }
  return { active: true as const, token_type: 'Bearer' as const, ...claims }
}
