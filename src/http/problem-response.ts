import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { type ApiError, problemBody } from '../errors'

/** A problem as an HTTP answer: RFC 9457 problem+json with the request's id, keeping the headers middleware set. */
export function problemResponse(c: Context<AppEnv>, error: ApiError): Response {
  const body = JSON.stringify(problemBody(error, c.var.requestId))
  const headers = new Headers(error.headers)
  headers.set('Content-Type', 'application/problem+json')
  // c.newResponse keeps headers other middleware already set (request id, security headers).
  return c.newResponse(body, error.status, Object.fromEntries(headers))
}
