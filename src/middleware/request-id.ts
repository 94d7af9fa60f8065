import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'

/** A client's id is used only when it is a short, plain token: it goes into logs and error bodies. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/

/**
 * Every request gets an id, echoed in X-Request-Id and in every problem body and log line. On
 * Cloudflare it is the request's ray id (CF-Ray), which Workers Logs records for the invocation,
 * so a problem body's request_id finds the platform's own log of it; elsewhere a client's own
 * plain id, or a new UUID.
 */
export function requestIdentity() {
  return createMiddleware<AppEnv>(async function identifyRequest(c, next) {
    const ray = c.req.header('CF-Ray')
    const sent = c.req.header('X-Request-Id')
    const id =
      ray !== undefined && CLIENT_REQUEST_ID.test(ray)
        ? ray
        : sent !== undefined && CLIENT_REQUEST_ID.test(sent)
          ? sent
          : crypto.randomUUID()
    c.set('requestId', id)
    c.header('X-Request-Id', id)
    await next()
  })
}
