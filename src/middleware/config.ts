import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { readConfig } from '../config'
import { problem } from '../errors'
import { log } from '../log'
import { createLimiter } from '../rate-limit/client'

/**
 * Puts the parsed configuration and the caller's address on the request. A configuration that
 * does not parse stops the request with 500 internal_error (health alone reports which variable).
 */
export function requireConfig() {
  return createMiddleware<AppEnv>(async function loadConfig(c, next) {
    const result = await readConfig(c.env)
    if (!result.ok) {
      log('error', 'config.invalid', { request_id: c.var.requestId, variables: result.problems.map((p) => p.name) })
      throw problem('internal_error')
    }
    c.set('config', result.config)
    const client = { ip: c.req.header('CF-Connecting-IP') ?? null, userAgent: c.req.header('User-Agent') ?? null }
    c.set('client', client)
    c.set('limiter', createLimiter(c.env.RATE_LIMITER, result.config, client.ip))
    await next()
  })
}
