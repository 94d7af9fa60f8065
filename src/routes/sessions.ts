import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { endUserSession, listActiveSessions } from '../db/sessions'
import { problem } from '../errors'
import { createRouter } from '../http/router'
import { requireAuth } from '../middleware/require-auth'
import { bearerAuth, jsonResponse } from '../schemas/openapi'
import { problems } from '../schemas/problem'
import { sessionView } from '../views/session'

const unauthorized = problems({ 401: ['unauthorized'] })

const sessionSchema = z
  .object({
    id: z.uuid(),
    created_at: z.iso.datetime(),
    last_used_at: z.iso.datetime().openapi({ description: 'Login or the latest refresh' }),
    expires_at: z.iso.datetime(),
    user_agent: z.string().nullable(),
    current: z.boolean().openapi({ description: 'Whether this request was made with this session' }),
  })
  .openapi('Session')

const listMySessionsRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listMySessions',
  tags: ['me'],
  summary: 'Your active sessions, newest first',
  security: bearerAuth,
  responses: { 200: jsonResponse(z.object({ sessions: z.array(sessionSchema) }), 'Sessions'), ...unauthorized },
})

const listMySessions: RouteHandler<typeof listMySessionsRoute, AppEnv> = async (c) => {
  const { db, user, session: current } = c.var
  const sessions = await listActiveSessions(db, user.id, new Date())
  return c.json(
    {
      sessions: sessions.map((session) => ({ ...sessionView(session), current: session.id === current.id })),
    },
    200,
  )
}

const endMySessionRoute = createRoute({
  method: 'delete',
  path: '/{id}',
  operationId: 'endMySession',
  tags: ['me'],
  summary: 'End one of your sessions',
  description: "Another user's session, or one that does not exist, is a 404.",
  security: bearerAuth,
  request: { params: z.object({ id: z.string().max(64) }) },
  responses: { 204: { description: 'Ended' }, ...problems({ 401: ['unauthorized'], 404: ['not_found'] }) },
})

const endMySession: RouteHandler<typeof endMySessionRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param')
  const { db, user, client } = c.var
  if (!(await endUserSession(db, { userId: user.id, sessionId: id, client, now: new Date() }))) throw problem('not_found')
  return c.body(null, 204)
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** The signed-in user's sessions. Mounted at /api/v1/users/me/sessions. */
export const sessionRoutes = authenticated.openapi(listMySessionsRoute, listMySessions).openapi(endMySessionRoute, endMySession)
