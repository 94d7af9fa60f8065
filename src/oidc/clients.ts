import { hashOpaqueToken, newOpaqueToken } from '../auth/opaque-tokens'
import { createOAuthClient, removeOAuthClient, rotateOAuthClientSecret, updateOAuthClient } from '../db/oauth-clients'
import type { OAuthClientRow, OAuthGrantType } from '../db/schema'
import { type FieldError, problem, validationFailed } from '../errors'
import { randomBytes, toBase64Url } from '../lib/encoding'
import type { SignedIn, SignInContext } from '../sign-in/context'
import { type ApplicationType, redirectUriProblem } from './redirect-uris'

/*
 * Registering and managing the OpenID Provider's clients. A client id is 128 random bits (it is
 * public, but unguessable ids keep a list of them from being walked); a confidential client's
 * secret is 256 random bits, kept as a SHA-256 and shown once, at creation or rotation.
 */

export type ClientInput = {
  name: string
  type: 'confidential' | 'public'
  applicationType?: ApplicationType
  redirectUris: string[]
  postLogoutRedirectUris?: string[]
  grantTypes?: OAuthGrantType[]
  skipConsent?: boolean
  idTokenAlg?: 'RS256' | 'EdDSA'
}

/** While the issuer is on this machine (PUBLIC_URL is local HTTP), a web client may redirect to http://localhost. */
const isDevelopment = (publicUrl: string) => {
  const url = new URL(publicUrl)
  return url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '127.0.0.1')
}

function uriErrors(field: string, uris: string[], applicationType: ApplicationType, development: boolean): FieldError[] {
  return uris.flatMap((uri, i) => {
    const why = redirectUriProblem(uri, applicationType, development)
    return why ? [{ path: `${field}.${i}`, message: why }] : []
  })
}

/** The client's settings checked together: redirect URIs by the rules, grants its type may hold. */
function checkClient(ctx: SignInContext, input: ClientInput & { applicationType: ApplicationType; grantTypes: OAuthGrantType[] }) {
  const development = isDevelopment(ctx.config.publicUrl)
  const errors = [
    ...uriErrors('redirect_uris', input.redirectUris, input.applicationType, development),
    ...uriErrors('post_logout_redirect_uris', input.postLogoutRedirectUris ?? [], input.applicationType, development),
  ]
  if (input.grantTypes.includes('client_credentials') && input.type !== 'confidential')
    errors.push({ path: 'grant_types', message: 'client_credentials is for confidential clients only' })
  if (input.grantTypes.includes('authorization_code') && input.redirectUris.length === 0)
    errors.push({ path: 'redirect_uris', message: 'must list at least one URI for the authorization_code grant' })
  if (input.grantTypes.includes('refresh_token') && !input.grantTypes.includes('authorization_code'))
    errors.push({ path: 'grant_types', message: 'refresh_token needs authorization_code' })
  if (errors.length > 0) throw validationFailed(errors)
}

/** A new client and, for a confidential one, its secret (returned this once). */
export async function registerClient(ctx: SignInContext, actor: SignedIn | null, input: ClientInput & { dynamic?: boolean }) {
  const applicationType = input.applicationType ?? 'web'
  const grantTypes = input.grantTypes ?? ['authorization_code', 'refresh_token']
  checkClient(ctx, { ...input, applicationType, grantTypes })
  const secret = input.type === 'confidential' ? newOpaqueToken() : undefined
  const client = await createOAuthClient(ctx.db, {
    client: {
      id: toBase64Url(randomBytes(16)),
      name: input.name,
      type: input.type,
      applicationType,
      secretHash: secret ? await hashOpaqueToken(secret) : null,
      redirectUris: input.redirectUris,
      postLogoutRedirectUris: input.postLogoutRedirectUris ?? [],
      grantTypes: [...new Set(grantTypes)],
      // A dynamically registered client never skips consent: anybody may register one.
      skipConsent: input.dynamic ? false : (input.skipConsent ?? false),
      dynamic: input.dynamic ?? false,
      idTokenAlg: input.idTokenAlg ?? 'RS256',
    },
    actorId: actor?.user.id ?? null,
    by: ctx.caller,
    now: ctx.now,
  })
  return { client, secret }
}

/** PATCH: a new name, redirect URIs (checked again by the rules) or skip_consent. */
export async function changeClient(
  ctx: SignInContext,
  actor: SignedIn,
  existing: OAuthClientRow,
  change: Partial<Pick<ClientInput, 'name' | 'redirectUris' | 'postLogoutRedirectUris' | 'skipConsent'>>,
) {
  checkClient(ctx, {
    name: change.name ?? existing.name,
    type: existing.type,
    applicationType: existing.applicationType,
    redirectUris: change.redirectUris ?? existing.redirectUris,
    postLogoutRedirectUris: change.postLogoutRedirectUris ?? existing.postLogoutRedirectUris,
    grantTypes: existing.grantTypes,
  })
  if (change.skipConsent && existing.dynamic)
    throw validationFailed([{ path: 'skip_consent', message: 'a dynamically registered client always asks for consent' }])
  const updated = await updateOAuthClient(ctx.db, { clientId: existing.id, change, actorId: actor.user.id, by: ctx.caller, now: ctx.now })
  if (!updated) throw problem('not_found')
  return updated
}

/** A new secret for a confidential client; the old one dies in the same write. */
export async function rotateClientSecret(ctx: SignInContext, actor: SignedIn, clientId: string) {
  const secret = newOpaqueToken()
  const updated = await rotateOAuthClientSecret(ctx.db, {
    clientId,
    secretHash: await hashOpaqueToken(secret),
    actorId: actor.user.id,
    by: ctx.caller,
    now: ctx.now,
  })
  if (!updated) throw problem('not_found', { context: 'No confidential client has that id.' })
  return { client: updated, secret }
}

export async function deleteClient(ctx: SignInContext, actor: SignedIn, clientId: string) {
  if (!(await removeOAuthClient(ctx.db, { clientId, actorId: actor.user.id, by: ctx.caller, now: ctx.now }))) throw problem('not_found')
}
