import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import type { Grant } from '../sign-in/grant'
import { clearHostCookie, setHostCookie } from './cookies'

/** The hosted pages' session cookie (`__Host-edge-users-session`): its value is hashed in its session's row. */
export const BROWSER_SESSION_COOKIE = 'edge-users-session'

/** Hands a browser the session a sign-in opened for it; the cookie lasts exactly as long as the session. */
export function holdBrowserSession(c: Context<AppEnv>, grant: Grant): void {
  const seconds = Math.max(0, Math.floor((grant.session.expiresAt.getTime() - grant.issuedAt.getTime()) / 1000))
  setHostCookie(c, BROWSER_SESSION_COOKIE, grant.session.refreshToken, seconds)
}

/** Tells the browser to drop its session cookie (the row is ended by the caller). */
export function dropBrowserSession(c: Context<AppEnv>): void {
  clearHostCookie(c, BROWSER_SESSION_COOKIE)
}
