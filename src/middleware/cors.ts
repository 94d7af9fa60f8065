import type { MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { readConfig } from '../config'
import { memoize } from '../lib/memo'
import { log } from '../log'

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

/** A browser's question before a cross-origin request: OPTIONS with an Origin and the method it wants. */
const isPreflight = (request: Request) =>
  request.method === 'OPTIONS' && request.headers.has('Origin') && request.headers.has('Access-Control-Request-Method')

/** wrangler dev's hosts: where a refused origin is worth a line in the terminal. */
const isLocal = (url: string) => ['localhost', '127.0.0.1'].includes(new URL(url).hostname)

/**
 * CORS for the origins in CORS_ORIGINS only; with none configured (or a configuration that does
 * not parse), no CORS header is ever sent. Bearer tokens, not cookies: credentials stay off.
 *
 * A refused origin's preflight still answers 204, without CORS headers, so the browser's error
 * is the true one (the origin is not allowed) rather than a 405 that points nowhere; in
 * development the refusal is logged once per request with the setting that would allow it.
 */
export function corsForConfiguredOrigins() {
  return createMiddleware<AppEnv>(async function applyCors(c, next) {
    const config = await readConfig(c.env)
    const origins = config.ok ? config.config.corsOrigins : []
    const origin = c.req.header('Origin')
    const refused = origin !== undefined && !origins.includes(origin)
    if (refused && isLocal(c.req.url) && origin !== new URL(c.req.url).origin)
      log('warn', 'cors.origin_refused', { origin, hint: 'list it in CORS_ORIGINS (comma-separated) to let it call this API' })
    if (refused && isPreflight(c.req.raw)) return c.body(null, 204)
    if (origins.length === 0) return next()
    return handlerFor(origins)(c, next)
  })
}

/** The OpenID Provider's endpoints a single-page app or an MCP client in a browser calls from its own origin. */
const OPEN_TO_ANY_ORIGIN = /^\/(\.well-known\/[a-z-]+(\.json)?|oauth2\/(token|userinfo|revoke|register))$/

const openCors = cors({
  origin: '*',
  allowMethods: ['GET', 'POST'],
  allowHeaders: ['Authorization', 'Content-Type'],
  exposeHeaders: ['WWW-Authenticate', 'Retry-After'],
  maxAge: 600,
})

/**
 * CORS for any origin on the provider's public endpoints: discovery, the keys, the token,
 * userinfo, revocation and registration endpoints. None reads a cookie (clients authenticate
 * with their secret, PKCE or a bearer token), so `*` without credentials exposes nothing a
 * server-side caller could not already ask for. Every other path keeps CORS_ORIGINS.
 */
export function corsForOAuthClients() {
  return createMiddleware<AppEnv>(async function applyOpenCors(c, next) {
    if (!OPEN_TO_ANY_ORIGIN.test(c.req.path)) return next()
    return openCors(c, next)
  })
}
