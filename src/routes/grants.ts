import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { listConsents, revokeConsent } from '../db/oauth-grants'
import { problem } from '../errors'
import { createRouter } from '../http/router'
import { requireAuth } from '../middleware/require-auth'
import { bearerAuth, jsonResponse } from '../schemas/openapi'
import { problems } from '../schemas/problem'
import { grantView } from '../views/grant'

const grantSchema = z
  .object({
    client_id: z.string(),
    client_name: z.string(),
    scopes: z.array(z.string()),
    created_at: z.iso.datetime(),
    last_used_at: z.iso.datetime().nullable().openapi({ description: 'The latest code exchange or refresh under it' }),
  })
  .openapi('Grant')

const listMyGrantsRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listMyGrants',
  tags: ['me'],
  summary: 'The applications you allowed to use your account (OpenID Provider clients), newest first',
  security: bearerAuth,
  responses: { 200: jsonResponse(z.object({ grants: z.array(grantSchema) }), 'Grants'), ...problems({ 401: ['unauthorized'] }) },
})

const listMyGrants: RouteHandler<typeof listMyGrantsRoute, AppEnv> = async (c) => {
  const rows = await listConsents(c.var.db, c.var.user.id)
  return c.json({ grants: rows.map(grantView) }, 200)
}

const revokeMyGrantRoute = createRoute({
  method: 'delete',
  path: '/{client_id}',
  operationId: 'revokeMyGrant',
  tags: ['me'],
  summary: "Take back an application's access",
  description:
    'Ends the consent and every grant under it: its refresh tokens stop working at once, and its access tokens at userinfo and introspection. A client you never allowed is a 404.',
  security: bearerAuth,
  request: { params: z.object({ client_id: z.string().max(64) }) },
  responses: { 204: { description: 'Revoked' }, ...problems({ 401: ['unauthorized'], 404: ['not_found'] }) },
})

const revokeMyGrant: RouteHandler<typeof revokeMyGrantRoute, AppEnv> = async (c) => {
  const { client_id: clientId } = c.req.valid('param')
  const revoked = await revokeConsent(c.var.db, { userId: c.var.user.id, clientId, client: c.var.client, now: c.var.signIn.now })
  if (!revoked) throw problem('not_found')
  return c.body(null, 204)
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** The signed-in person's grants to OpenID Provider clients. Mounted at /api/v1/users/me/grants. */
export const grantRoutes = authenticated.openapi(listMyGrantsRoute, listMyGrants).openapi(revokeMyGrantRoute, revokeMyGrant)
