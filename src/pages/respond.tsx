import type { Context } from 'hono'
import type { Child } from 'hono/jsx'
import type { AppEnv } from '../app-env'
import { ApiError, problem } from '../errors'
import { log } from '../log'
import { csrfTokenFor } from '../middleware/page-forms'
import type { PageContext } from './layout'
import { confineReturnTo } from './return-to'

/** What a page's renderer is handed: the nonce, the CSRF token and the product's name. */
export function pageContext(c: Context<AppEnv>): PageContext {
  // A refusal before the configuration was read (a body over the limit) still gets a page.
  return { nonce: c.var.nonce, csrf: csrfTokenFor(c), productName: c.var.config?.productName ?? 'edge-users' }
}

/** A rendered page with its status (a refused form is 4xx, as its problem is). */
export function respond(c: Context<AppEnv>, node: Child, status: 200 | 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500 = 200) {
  return c.html(node as string, status)
}

/** The `return_to` of this request (query or form), confined to this origin or APP_URL's. */
export function returnToOf(c: Context<AppEnv>): string {
  const value = c.var.form?.return_to ?? c.req.query('return_to')
  return confineReturnTo(value, c.var.config.appUrl)
}

/** A redirect after a form's POST: 303, so the browser follows it with a GET. */
export const seeOther = (c: Context<AppEnv>, location: string) => c.redirect(location, 303)

/**
 * A refusal as a page shows it: the problem (an ApiError's words and status, its Retry-After
 * kept) or, for anything else, a logged 500 that says nothing of the cause.
 */
export function refusalOf(c: Context<AppEnv>, error: unknown): ApiError {
  if (error instanceof ApiError) {
    for (const [name, value] of Object.entries(error.headers)) if (name !== 'WWW-Authenticate') c.header(name, value)
    return error
  }
  log('error', 'page.failed', { request_id: c.var.requestId, error: error instanceof Error ? error.name : 'unknown', path: c.req.path })
  return problem('internal_error')
}

/** The statuses a page answers a refusal with: the problem's own. */
export const statusOf = (error: ApiError) => error.status as 400 | 401 | 403 | 404 | 409 | 413 | 429 | 500

/** The first message of a validation failure for one field, if any. */
export function fieldError(error: ApiError | undefined, field: string): string | undefined {
  const found = error?.errors?.find((entry) => entry.path === field)
  return found && `${labelOf(field)} ${found.message}.`
}

const LABELS: Record<string, string> = {
  username: 'Username',
  email: 'Email',
  password: 'Password',
  new_password: 'New password',
  current_password: 'Current password',
  code: 'Code',
}
const labelOf = (field: string) => LABELS[field] ?? field
