import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { rateLimited } from '../errors'

/** For unauthenticated POSTs other than login (which asks together with its account): spend from the client address's budget or 429. */
export function ipBudget() {
  return createMiddleware<AppEnv>(async function spendIpBudget(c, next) {
    const admission = await c.var.limiter.admitRequest()
    if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)
    await next()
  })
}
