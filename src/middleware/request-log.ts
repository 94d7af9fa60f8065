import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { log } from '../log'

/**
 * One structured line per request. The path only: a query string may carry a token someone
 * pasted, and bodies are never logged.
 */
export function requestLog() {
  return createMiddleware<AppEnv>(async function logRequest(c, next) {
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
