import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { newOpaqueToken } from '../auth/opaque-tokens'
import { problem, validationFailed } from '../errors'
import { hostCookie, setHostCookie } from '../http/cookies'

/** The CSRF cookie (`__Host-edge-users-csrf`), whose value every form of the pages carries back. */
const CSRF_COOKIE = 'edge-users-csrf'
export const CSRF_FIELD = 'csrf_token'
const CSRF_PATTERN = /^[A-Za-z0-9_-]{43}$/
/** A day: a form left open longer is refused and re-rendered with a fresh token. */
const CSRF_TTL_SECONDS = 86_400

/** The token a page's forms carry: the browser's CSRF cookie, set now if it has none. */
export function csrfTokenFor(c: Context<AppEnv>): string {
  const existing = hostCookie(c, CSRF_COOKIE)
  if (existing && CSRF_PATTERN.test(existing)) return existing
  const token = newOpaqueToken()
  setHostCookie(c, CSRF_COOKIE, token, CSRF_TTL_SECONDS)
  return token
}

/** Equal strings, compared without an early exit, so the time taken says nothing about where they differ. */
function sameToken(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

/**
 * Where a POST came from, as the browser tells it: `Origin` is this origin; or, when the browser
 * withholds it (`Origin: null` under `Referrer-Policy: no-referrer`, or none at all), its
 * `Sec-Fetch-Site` says same-origin. Anything else is another site's form.
 */
function cameFromThisOrigin(c: Context<AppEnv>): boolean {
  const origin = c.req.header('Origin')
  if (origin !== undefined && origin !== 'null') return origin === new URL(c.req.url).origin
  return c.req.header('Sec-Fetch-Site') === 'same-origin'
}

/**
 * Every POST of the hosted pages, before anything else runs (sign-out included): it must come
 * from this origin, be a form, and carry the CSRF token its page was rendered with (the cookie
 * and the field agree). Otherwise 403 csrf_failed and nothing changes. The form's fields land in
 * `c.var.form` as strings (a file field is dropped).
 */
export function checkPageForm() {
  return createMiddleware<AppEnv>(async function pageForm(c, next) {
    if (c.req.method !== 'POST') return next()
    if (!cameFromThisOrigin(c)) throw problem('csrf_failed', { context: 'It was sent from another site.' })
    const type = c.req.header('Content-Type') ?? ''
    if (!/^(application\/x-www-form-urlencoded|multipart\/form-data)\b/i.test(type)) throw problem('csrf_failed')
    // A body that says it is a form and is not one (a multipart without its boundary) is 400, not a crash.
    const body = await c.req.parseBody().catch(() => {
      throw validationFailed([{ path: 'body', message: 'is not a form this page can read' }])
    })
    const form: Record<string, string> = {}
    for (const [name, value] of Object.entries(body)) if (typeof value === 'string') form[name] = value
    const cookie = hostCookie(c, CSRF_COOKIE)
    const sent = form[CSRF_FIELD]
    if (!cookie || !sent || !CSRF_PATTERN.test(cookie) || !sameToken(cookie, sent)) throw problem('csrf_failed')
    c.set('form', form)
    await next()
  })
}
