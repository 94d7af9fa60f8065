import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { readConfig } from '../config'
import { log } from '../log'

/**
 * One structured line per request, when LOG_REQUESTS is true. Off by default: Workers Logs already
 * records every invocation (method, URL, status, duration, CPU time, ray id), every log line is
 * billed, and under `wrangler dev` each console line is relayed through the inspector, which cost
 * more than an authenticated request's database read. Errors and security events are always logged
 * where they happen. The path only: a query string may carry a token someone pasted.
 */
export function requestLog() {
  return createMiddleware<AppEnv>(async function logRequest(c, next) {
    const config = await readConfig(c.env)
    if (!config.ok || !config.config.logRequests) return next()
    const started = Date.now()
    await next()
    const status = c.res.status
    log(status >= 500 ? 'error' : 'info', 'request', {
      request_id: c.var.requestId,
      method: c.req.method,
      path: c.req.path,
      status,
      ms: Date.now() - started,
    })
  })
}
