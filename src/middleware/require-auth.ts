import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { verifyAccessToken } from '../auth/tokens'
import { findAuthenticatedSession } from '../db/sessions'
import { expiredToken, missingToken, refusedToken } from '../errors'

// RFC 6750 §2.1: the scheme is case-insensitive, the credential is token68. Only the header
// counts: a token in the query string or the body is never looked at.
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i

/**
 * Authenticates the request from its access token, then reads the session and the user back in
 * one query, so a logout, a revocation, a disabled account or a role change counts at once.
 * Sets `c.var.user` and `c.var.session`.
 */
export function requireAuth() {
  return createMiddleware<AppEnv>(async function authenticate(c, next) {
    const header = c.req.header('Authorization')?.trim() ?? ''
    // No Bearer credentials at all (none, or another scheme): RFC 6750 §3.1 names no error then.
    if (!/^bearer(?: |$)/i.test(header)) throw missingToken()
    const token = BEARER.exec(header)?.[1]
    if (!token) throw refusedToken()

    const now = new Date()
    const { claims, expired } = await verifyAccessToken(c.var.config, token, Math.floor(now.getTime() / 1000))
    if (!claims) throw expired ? expiredToken() : refusedToken()
    const found = await findAuthenticatedSession(c.var.db, claims.sid, claims.sub, now)
    if (!found) throw refusedToken()

    c.set('user', found.user)
    c.set('session', found.session)
    await next()
  })
}
