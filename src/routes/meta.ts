import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { readConfig } from '../config'
import { databaseAnswers } from '../db/health'
import { problem } from '../errors'
import { createRouter } from '../http/router'
import { jsonResponse, noAuth } from '../schemas/openapi'
import { problems } from '../schemas/problem'

const helloResponse = z.object({ msg: z.literal('hello world') })

const helloRoute = createRoute({
  method: 'get',
  path: '/hello',
  operationId: 'sayHello',
  tags: ['meta'],
  summary: 'A greeting, to check the API answers',
  security: noAuth,
  responses: { 200: jsonResponse(helloResponse, 'Hello') },
})

const hello: RouteHandler<typeof helloRoute, AppEnv> = (c) => c.json({ msg: 'hello world' as const }, 200)

const healthResponse = z.object({ status: z.literal('ok'), db: z.literal('ok') }).openapi('Health')

const healthRoute = createRoute({
  method: 'get',
  path: '/health',
  operationId: 'checkHealth',
  tags: ['meta'],
  security: noAuth,
  summary: 'Whether the configuration parses and the database answers',
  description: 'A 503 names every configuration variable that is invalid (never its value).',
  responses: { 200: jsonResponse(healthResponse, 'Healthy'), ...problems({ 503: ['unavailable'] }) },
})

const health: RouteHandler<typeof healthRoute, AppEnv> = async (c) => {
  const [config, dbOk] = await Promise.all([readConfig(c.env), databaseAnswers(c.env.DB)])
  if (!config.ok || !dbOk) {
    const invalid = config.ok ? [] : config.problems
    const reasons = [...invalid.map((problem) => `${problem.name} ${problem.message}`), ...(dbOk ? [] : ['the database did not answer'])]
    throw problem('unavailable', {
      context: `${reasons.join('; ')}.`,
      extensions: { db: dbOk ? 'ok' : 'unavailable', invalid_config: invalid },
    })
  }
  return c.json({ status: 'ok' as const, db: 'ok' as const }, 200)
}

export const meta = createRouter().openapi(helloRoute, hello).openapi(healthRoute, health)
