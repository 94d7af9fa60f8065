import type { Context } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import type { AppEnv } from '../app-env'
import { hashOpaqueToken, newOpaqueToken } from '../auth/opaque-tokens'
import { FLOW_TTL_SECONDS } from '../db/oauth-flows'
import type { FlowBrowser } from '../sign-in/provider'

/** The browser's flow cookie: `__Host-` (HTTPS or localhost, where Secure cookies work), HttpOnly, SameSite=Lax. */
const COOKIE = '__Host-edge-users-oauth'
const COOKIE_PATTERN = /^[A-Za-z0-9_-]{43}$/

/** Plain HTTP is served only on this machine (wrangler dev); anywhere else the API is HTTPS. */
const isLocalHttp = (url: URL) => url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '127.0.0.1')

/** The browser's flow id: its cookie when it has one, else a new one it is given now. */
async function browserBinding(c: Context<AppEnv>): Promise<string> {
  let value = getCookie(c, COOKIE)
  if (!value || !COOKIE_PATTERN.test(value)) value = newOpaqueToken()
  const url = new URL(c.req.url)
  const secure = url.protocol === 'https:' || url.hostname === 'localhost' || url.hostname === '127.0.0.1'
  setCookie(c, secure ? COOKIE : COOKIE.replace('__Host-', ''), value, {
    httpOnly: true,
    secure,
    sameSite: 'Lax',
    path: '/',
    maxAge: FLOW_TTL_SECONDS,
  })
  return hashOpaqueToken(value)
}

/**
 * The flow id the browser sent back. Only the `__Host-` cookie counts (a sibling domain can set a
 * cookie without the prefix for ours, and so toss in its own flow), except over plain HTTP on
 * localhost, where a browser may refuse a Secure cookie (Chromium on 127.0.0.1).
 */
export async function browserHashOf(c: Context<AppEnv>): Promise<string | undefined> {
  const value = getCookie(c, COOKIE) ?? (isLocalHttp(new URL(c.req.url)) ? getCookie(c, COOKIE.replace('__Host-', '')) : undefined)
  return value && COOKIE_PATTERN.test(value) ? hashOpaqueToken(value) : undefined
}

/** The API's origin as this request reached it: where a provider sends the browser back. */
export const requestOrigin = (c: Context<AppEnv>) => new URL(c.req.url).origin

/** The browser a provider flow is bound to: this request's origin, and its flow cookie. */
export const flowBrowser = (c: Context<AppEnv>): FlowBrowser => ({ origin: requestOrigin(c), bind: () => browserBinding(c) })
