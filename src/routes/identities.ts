import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { listIdentities, unlinkIdentity } from '../db/identities'
import { problem } from '../errors'
import { createRouter } from '../http/router'
import { requireAuth } from '../middleware/require-auth'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { bodyProblems, problems } from '../schemas/problem'
import { startLinking } from '../sign-in/provider'
import { requireRecentProof } from '../sign-in/recent-proof'

const identitySchema = z
  .object({
    id: z.string(),
    provider: z.string(),
    email: z.string().nullable(),
    created_at: z.iso.datetime(),
    last_used_at: z.iso.datetime().nullable(),
  })
  .openapi('Identity')

const listRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listMyIdentities',
  tags: ['providers'],
  summary: 'Your linked provider identities',
  security: bearerAuth,
  responses: {
    200: jsonResponse(z.object({ identities: z.array(identitySchema) }).openapi('IdentityList'), 'Oldest first'),
    ...problems({ 401: ['unauthorized'] }),
  },
})

const list: RouteHandler<typeof listRoute, AppEnv> = async (c) => {
  const rows = await listIdentities(c.var.db, c.var.user.id)
  return c.json(
    {
      identities: rows.map((row) => ({
        id: row.id,
        provider: row.provider,
        email: row.email,
        created_at: row.createdAt.toISOString(),
        last_used_at: row.lastUsedAt?.toISOString() ?? null,
      })),
    },
    200,
  )
}

const providerParam = z.object({
  provider: z
    .string()
    .max(32)
    .openapi({ param: { name: 'provider', in: 'path' } }),
})

const linkRoute = createRoute({
  method: 'post',
  path: '/{provider}/authorize',
  operationId: 'startIdentityLink',
  tags: ['providers'],
  summary: 'Link a provider identity to your account',
  description:
    'A sensitive action. Returns our own authorize URL for the browser (single use, 10 minutes); the flow ends with a redirect to redirect_uri#linked=<provider> (or #error=<code>), with no code to exchange. code_challenge is accepted and not needed: nothing is exchanged.',
  security: bearerAuth,
  request: {
    params: providerParam,
    body: jsonRequest(
      z
        .object({ redirect_uri: z.string().min(1, 'is required').max(2048), code_challenge: z.string().max(128).optional() })
        .openapi('IdentityLinkRequest'),
    ),
  },
  responses: {
    200: jsonResponse(z.object({ authorize_url: z.string() }).openapi('IdentityLinkStart'), 'Send the browser there'),
    ...bodyProblems({ 400: ['validation_failed'], 401: ['unauthorized'], 403: ['reauthentication_required'], 404: ['not_found'] }),
  },
})

const link: RouteHandler<typeof linkRoute, AppEnv> = async (c) => {
  await requireRecentProof(c)
  const url = await startLinking(c, c.req.valid('param').provider, c.req.valid('json').redirect_uri)
  c.header('Cache-Control', 'no-store')
  return c.json({ authorize_url: url }, 200)
}

const unlinkRoute = createRoute({
  method: 'delete',
  path: '/{id}',
  operationId: 'unlinkIdentity',
  tags: ['providers'],
  summary: 'Unlink a provider identity',
  description: 'A sensitive action. Refused when it is the last way to sign in (no password, no passkey, no other identity).',
  security: bearerAuth,
  request: {
    params: z.object({
      id: z
        .string()
        .max(64)
        .openapi({ param: { name: 'id', in: 'path' } }),
    }),
  },
  responses: {
    204: { description: 'Unlinked' },
    ...problems({ 401: ['unauthorized'], 403: ['reauthentication_required'], 404: ['not_found'], 409: ['last_sign_in_method'] }),
  },
})

const unlink: RouteHandler<typeof unlinkRoute, AppEnv> = async (c) => {
  const { db, user, client } = c.var
  await requireRecentProof(c)
  const outcome = await unlinkIdentity(db, { userId: user.id, id: c.req.valid('param').id, client, now: new Date() })
  if (outcome !== 'removed') throw problem(outcome)
  return c.body(null, 204)
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** The signed-in user's linked identities. Mounted at /api/v1/users/me/identities. */
export const identityRoutes = authenticated.openapi(listRoute, list).openapi(linkRoute, link).openapi(unlinkRoute, unlink)
