import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'

/** A client's id is used only when it is a short, plain token: it goes into logs and error bodies. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/

/** Every request gets an id, echoed in X-Request-Id and in every problem body and log line. */
export function requestIdentity() {
  return createMiddleware<AppEnv>(async function identifyRequest(c, next) {
    const sent = c.req.header('X-Request-Id')
    const id = sent !== undefined && CLIENT_REQUEST_ID.test(sent) ? sent : crypto.randomUUID()
    c.set('requestId', id)
    c.header('X-Request-Id', id)
    await next()
  })
}
