import type { MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { readConfig } from '../config'
import { memoize } from '../lib/memo'

/** One CORS handler per origin list; the list belongs to the parsed configuration, made once per isolate. */
const handlerFor: (origins: string[]) => MiddlewareHandler = memoize((origins) =>
  cors({
    origin: (origin) => (origins.includes(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'X-D1-Bookmark'],
    exposeHeaders: ['X-Request-Id', 'Retry-After', 'WWW-Authenticate', 'X-D1-Bookmark'],
    maxAge: 600,
  }),
)

/**
 * CORS for the origins in CORS_ORIGINS only; with none configured (or a configuration that does
 * not parse), no CORS header is ever sent. Bearer tokens, not cookies: credentials stay off.
 */
export function corsForConfiguredOrigins() {
  return createMiddleware<AppEnv>(async function applyCors(c, next) {
    const config = await readConfig(c.env)
    const origins = config.ok ? config.config.corsOrigins : []
    if (origins.length === 0) return next()
    return handlerFor(origins)(c, next)
  })
}
