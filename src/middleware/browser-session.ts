import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { hashOpaqueToken, sessionOfRefreshToken } from '../auth/opaque-tokens'
import { findBrowserSession } from '../db/sessions'
import { BROWSER_SESSION_COOKIE } from '../http/browser-session'
import { hostCookie } from '../http/cookies'

/**
 * Reads the hosted pages' browser session from its cookie (`c.var.browser`), or leaves it unset:
 * the cookie names its session and is checked against that row's hash, so a made-up value costs
 * one primary-key read. A page that needs a signed-in person redirects when it is unset.
 */
export function readBrowserSession() {
  return createMiddleware<AppEnv>(async function browserSession(c, next) {
    const value = hostCookie(c, BROWSER_SESSION_COOKIE)
    const sessionId = value ? sessionOfRefreshToken(value) : undefined
    if (value && sessionId) {
      const found = await findBrowserSession(c.var.db, { sessionId, cookieHash: await hashOpaqueToken(value), now: c.var.signIn.now })
      if (found) c.set('browser', found)
    }
    await next()
  })
}
