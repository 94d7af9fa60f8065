import { Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../app-env'
import { ApiError, MAX_BODY_BYTES } from '../errors'
import { registerClient } from '../oidc/clients'

/*
 * RFC 7591 dynamic client registration at /oauth2/register, when OAUTH_DYNAMIC_REGISTRATION is on
 * (404 otherwise). It speaks OAuth's error format (`{error, error_description}`), not problem
 * details: MCP clients and other RFC 7591 clients read that. Every request spends from the
 * client network's budget, as a sign-up does; the client it makes never skips consent.
 */

const uris = z.array(z.string().max(2048)).max(20)

const metadata = z.object({
  redirect_uris: uris.optional(),
  client_name: z.string().trim().min(1).max(100).optional(),
  token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'none']).optional(),
  // client_credentials is an admin's decision (a machine client acts for nobody but itself, and the
  // resource APIs trust its tokens): registering one oneself is not offered.
  grant_types: z
    .array(z.enum(['authorization_code', 'refresh_token'], { message: 'may be authorization_code and refresh_token only' }))
    .min(1)
    .max(2)
    .optional(),
  response_types: z.array(z.literal('code')).max(1).optional(),
  application_type: z.enum(['web', 'native']).optional(),
  post_logout_redirect_uris: uris.optional(),
  id_token_signed_response_alg: z.enum(['RS256', 'EdDSA']).optional(),
})

type OAuthError = 'invalid_redirect_uri' | 'invalid_client_metadata'

const oauthError = (error: OAuthError, description: string) => ({ error, error_description: description })

export const oauthRegistration = new Hono<AppEnv>().post('/oauth2/register', async (c) => {
  if (!c.var.config.oauthDynamicRegistration)
    return c.json(oauthError('invalid_client_metadata', 'Dynamic registration is turned off.'), 404)
  const admission = await c.var.limiter.admitRequest()
  if (!admission.allowed) {
    c.header('Retry-After', String(admission.retryAfterSeconds))
    return c.json({ error: 'rate_limited', error_description: 'Too many registrations from this network; try again later.' }, 429)
  }
  const text = await c.req.text()
  let body: unknown
  try {
    body = JSON.parse(text.length > MAX_BODY_BYTES ? '' : text)
  } catch {
    return c.json(oauthError('invalid_client_metadata', 'The body must be a JSON object of client metadata.'), 400)
  }
  const parsed = metadata.safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    return c.json(oauthError('invalid_client_metadata', `${issue?.path.join('.') || 'metadata'}: ${issue?.message ?? 'is invalid'}`), 400)
  }
  const input = parsed.data
  const method = input.token_endpoint_auth_method ?? 'client_secret_basic'
  const grantTypes = input.grant_types ?? ['authorization_code']
  try {
    const { client, secret } = await registerClient(c.var.signIn, null, {
      name: input.client_name ?? 'Unnamed client',
      type: method === 'none' ? 'public' : 'confidential',
      applicationType: input.application_type ?? 'web',
      redirectUris: input.redirect_uris ?? [],
      postLogoutRedirectUris: input.post_logout_redirect_uris,
      grantTypes,
      idTokenAlg: input.id_token_signed_response_alg,
      dynamic: true,
    })
    return c.json(
      {
        client_id: client.id,
        ...(secret ? { client_secret: secret, client_secret_expires_at: 0 } : {}),
        client_id_issued_at: Math.floor(client.createdAt.getTime() / 1000),
        client_name: client.name,
        redirect_uris: client.redirectUris,
        post_logout_redirect_uris: client.postLogoutRedirectUris,
        grant_types: client.grantTypes,
        response_types: client.grantTypes.includes('authorization_code') ? ['code'] : [],
        token_endpoint_auth_method: method,
        application_type: client.applicationType,
        id_token_signed_response_alg: client.idTokenAlg,
      },
      201,
    )
  } catch (caught) {
    if (!(caught instanceof ApiError) || caught.code !== 'validation_failed') throw caught
    const first = caught.errors?.[0]
    const kind: OAuthError = first?.path.startsWith('redirect_uris') ? 'invalid_redirect_uri' : 'invalid_client_metadata'
    return c.json(oauthError(kind, first ? `${first.path} ${first.message}` : 'The metadata is invalid.'), 400)
  }
})
