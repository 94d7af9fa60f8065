import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { findOAuthClient, listOAuthClients } from '../db/oauth-clients'
import { OAUTH_GRANT_TYPES } from '../db/schema'
import { problem } from '../errors'
import { createRouter } from '../http/router'
import { signedIn } from '../http/signed-in'
import { requireAuth } from '../middleware/require-auth'
import { requirePermission } from '../middleware/require-permission'
import { changeClient, deleteClient, registerClient, rotateClientSecret } from '../oidc/clients'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { bodyProblems, problems } from '../schemas/problem'
import { requireRecentProof } from '../sign-in/recent-proof'
import { oauthClientView } from '../views/oauth-client'

const clientSchema = z
  .object({
    client_id: z.string(),
    name: z.string(),
    type: z.enum(['confidential', 'public']),
    application_type: z.enum(['web', 'native']),
    redirect_uris: z.array(z.string()),
    post_logout_redirect_uris: z.array(z.string()),
    grant_types: z.array(z.enum(OAUTH_GRANT_TYPES)),
    skip_consent: z.boolean(),
    id_token_signed_response_alg: z.enum(['RS256', 'EdDSA']),
    dynamically_registered: z.boolean(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .openapi('OAuthClient')

const uris = z.array(z.string().max(2048)).max(20)
const clientName = z.string().trim().min(1, 'is required').max(100)

const createBody = z
  .object({
    name: clientName,
    type: z.enum(['confidential', 'public']),
    application_type: z
      .enum(['web', 'native'])
      .optional()
      .openapi({ description: 'web (default): https redirect URIs; native: loopback or private-use scheme' }),
    redirect_uris: uris,
    post_logout_redirect_uris: uris.optional(),
    grant_types: z
      .array(z.enum(OAUTH_GRANT_TYPES))
      .min(1)
      .max(3)
      .optional()
      .openapi({ description: 'Default: authorization_code and refresh_token' }),
    skip_consent: z.boolean().optional().openapi({ description: 'A first-party app: the person is never asked to consent' }),
    id_token_signed_response_alg: z.enum(['RS256', 'EdDSA']).optional().openapi({ description: 'Default: RS256' }),
  })
  .openapi('CreateOAuthClientRequest')

const updateBody = z
  .object({
    name: clientName.optional(),
    redirect_uris: uris.optional(),
    post_logout_redirect_uris: uris.optional(),
    skip_consent: z.boolean().optional(),
  })
  .openapi('UpdateOAuthClientRequest')

const clientIdParam = z.object({
  client_id: z
    .string()
    .max(64)
    .openapi({ param: { name: 'client_id', in: 'path' } }),
})
const denied = { 401: ['unauthorized' as const], 403: ['forbidden' as const] }
const deniedOrStale = { 401: ['unauthorized' as const], 403: ['forbidden' as const, 'reauthentication_required' as const] }
const withSecret = z.object({
  client: clientSchema,
  client_secret: z.string().optional().openapi({ description: 'Shown this once; confidential clients only' }),
})

const createRouteDef = createRoute({
  method: 'post',
  path: '/',
  operationId: 'createOAuthClient',
  tags: ['oauth clients'],
  summary: 'Register a client of the OpenID Provider',
  description:
    'Admins only, with a recent proof. A confidential client gets a secret, shown only in this answer and kept as a hash. Redirect URIs are matched exactly later: web clients register https URIs (http://localhost while PUBLIC_URL is local); native clients loopback http URIs (any port matches) or a private-use scheme. javascript:, data: and the like, fragments and credentials are refused.',
  security: bearerAuth,
  request: { body: jsonRequest(createBody) },
  responses: {
    201: jsonResponse(withSecret, 'The client, and its secret when confidential'),
    ...bodyProblems({ 400: ['validation_failed'], ...deniedOrStale }),
  },
})

const create: RouteHandler<typeof createRouteDef, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  await requireRecentProof(c.var.signIn, signedIn(c))
  const { client, secret } = await registerClient(c.var.signIn, signedIn(c), {
    name: body.name,
    type: body.type,
    applicationType: body.application_type,
    redirectUris: body.redirect_uris,
    postLogoutRedirectUris: body.post_logout_redirect_uris,
    grantTypes: body.grant_types,
    skipConsent: body.skip_consent,
    idTokenAlg: body.id_token_signed_response_alg,
  })
  return c.json({ client: oauthClientView(client), ...(secret ? { client_secret: secret } : {}) }, 201)
}

const listRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listOAuthClients',
  tags: ['oauth clients'],
  summary: 'Every client, oldest first',
  security: bearerAuth,
  responses: { 200: jsonResponse(z.object({ clients: z.array(clientSchema) }), 'The clients'), ...problems(denied) },
})

const list: RouteHandler<typeof listRoute, AppEnv> = async (c) =>
  c.json({ clients: (await listOAuthClients(c.var.db)).map(oauthClientView) }, 200)

const getRoute = createRoute({
  method: 'get',
  path: '/{client_id}',
  operationId: 'getOAuthClient',
  tags: ['oauth clients'],
  summary: 'One client',
  security: bearerAuth,
  request: { params: clientIdParam },
  responses: { 200: jsonResponse(z.object({ client: clientSchema }), 'The client'), ...problems({ ...denied, 404: ['not_found'] }) },
})

const getOne: RouteHandler<typeof getRoute, AppEnv> = async (c) => {
  const client = await findOAuthClient(c.var.db, c.req.valid('param').client_id)
  if (!client) throw problem('not_found')
  return c.json({ client: oauthClientView(client) }, 200)
}

const updateRoute = createRoute({
  method: 'patch',
  path: '/{client_id}',
  operationId: 'updateOAuthClient',
  tags: ['oauth clients'],
  summary: "Change a client's name, redirect URIs or skip_consent",
  security: bearerAuth,
  request: { params: clientIdParam, body: jsonRequest(updateBody) },
  responses: {
    200: jsonResponse(z.object({ client: clientSchema }), 'The changed client'),
    ...bodyProblems({ 400: ['validation_failed'], ...deniedOrStale, 404: ['not_found'] }),
  },
})

const update: RouteHandler<typeof updateRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const existing = await findOAuthClient(c.var.db, c.req.valid('param').client_id)
  if (!existing) throw problem('not_found')
  await requireRecentProof(c.var.signIn, signedIn(c))
  const updated = await changeClient(c.var.signIn, signedIn(c), existing, {
    name: body.name,
    redirectUris: body.redirect_uris,
    postLogoutRedirectUris: body.post_logout_redirect_uris,
    skipConsent: body.skip_consent,
  })
  return c.json({ client: oauthClientView(updated) }, 200)
}

const rotateRoute = createRoute({
  method: 'post',
  path: '/{client_id}/secret',
  operationId: 'rotateOAuthClientSecret',
  tags: ['oauth clients'],
  summary: 'A new secret for a confidential client',
  description: 'The old secret stops working at once. The new one is shown only in this answer.',
  security: bearerAuth,
  request: { params: clientIdParam },
  responses: {
    200: jsonResponse(withSecret, 'The client and its new secret'),
    ...problems({ ...deniedOrStale, 404: ['not_found'] }),
  },
})

const rotate: RouteHandler<typeof rotateRoute, AppEnv> = async (c) => {
  await requireRecentProof(c.var.signIn, signedIn(c))
  const { client, secret } = await rotateClientSecret(c.var.signIn, signedIn(c), c.req.valid('param').client_id)
  return c.json({ client: oauthClientView(client), client_secret: secret }, 200)
}

const deleteRoute = createRoute({
  method: 'delete',
  path: '/{client_id}',
  operationId: 'deleteOAuthClient',
  tags: ['oauth clients'],
  summary: 'Delete a client',
  description: 'Everything the client was given goes with it.',
  security: bearerAuth,
  request: { params: clientIdParam },
  responses: { 204: { description: 'Deleted' }, ...problems({ ...deniedOrStale, 404: ['not_found'] }) },
})

const remove: RouteHandler<typeof deleteRoute, AppEnv> = async (c) => {
  await requireRecentProof(c.var.signIn, signedIn(c))
  await deleteClient(c.var.signIn, signedIn(c), c.req.valid('param').client_id)
  return c.body(null, 204)
}

const admins = createRouter()
admins.use(requireAuth(), requirePermission('oauth_clients:manage'))

/** The OpenID Provider's clients, for admins. Mounted at /api/v1/admin/oauth/clients. */
export const oauthClientRoutes = admins
  .openapi(createRouteDef, create)
  .openapi(listRoute, list)
  .openapi(getRoute, getOne)
  .openapi(updateRoute, update)
  .openapi(rotateRoute, rotate)
  .openapi(deleteRoute, remove)
