import { hashOpaqueToken } from '../auth/opaque-tokens'
import { recordEvent } from '../db/audit'
import { findOAuthClient } from '../db/oauth-clients'
import type { OAuthClientRow } from '../db/schema'
import type { SignInContext } from '../sign-in/context'
import { OAuthError } from './oauth-error'

/** How a client said who it is at the token endpoint: a secret in Basic or in the form, or its id alone. */
export type ClientCredentials = { method: 'client_secret_basic' | 'client_secret_post' | 'none'; clientId: string; secret?: string }

/** Equal strings, compared without an early exit. */
function sameSecret(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

/** The stored client the credentials name: a read only, which the token endpoint makes beside the network's budget. */
export async function clientNamedBy(ctx: SignInContext, credentials: ClientCredentials): Promise<OAuthClientRow | undefined> {
  return credentials.clientId ? findOAuthClient(ctx.db, credentials.clientId) : undefined
}

/**
 * The client a token request is from, judged on the row its credentials name (read by
 * clientNamedBy), or 401 invalid_client: a confidential client by its secret (Basic or form,
 * compared as hashes in constant time), a public client by its id alone (and a public client that
 * sends a secret is refused: it has none). Every failure is audited.
 */
export async function judgeClient(
  ctx: SignInContext,
  credentials: ClientCredentials,
  client: OAuthClientRow | undefined,
): Promise<OAuthClientRow> {
  const presented = credentials.secret === undefined ? undefined : await hashOpaqueToken(credentials.secret)
  const ok =
    client !== undefined &&
    (client.type === 'confidential'
      ? credentials.method !== 'none' && presented !== undefined && client.secretHash !== null && sameSecret(presented, client.secretHash)
      : credentials.method === 'none')
  if (client && ok) return client
  return refuseClient(ctx, credentials, client ? 'wrong_secret' : 'unknown_client')
}

/**
 * A refused client authentication, audited. The token endpoint spent from the network's budget
 * when the request arrived, before reading it, so a spent budget is a 429 whether the credentials
 * are right or wrong, and no answer tells the two apart.
 */
export async function refuseClient(ctx: SignInContext, credentials: Partial<ClientCredentials>, reason: string): Promise<never> {
  const details = { client_id: (credentials.clientId ?? '').slice(0, 64), reason, method: credentials.method ?? 'unknown' }
  await recordEvent(ctx.db, { action: 'oauth.client_auth_failed', targetId: null, details }, ctx.caller, ctx.now)
  throw new OAuthError(
    'invalid_client',
    'The client is unknown, or its credentials are wrong.',
    credentials.method === 'client_secret_basic',
  )
}
