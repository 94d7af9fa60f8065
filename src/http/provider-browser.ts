import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { hashOpaqueToken, newOpaqueToken } from '../auth/opaque-tokens'
import { FLOW_TTL_SECONDS } from '../db/oauth-flows'
import type { FlowBrowser } from '../sign-in/provider'
import { hostCookie, setHostCookie } from './cookies'

/** The browser's flow cookie (http/cookies.ts: `__Host-` wherever a browser keeps one). */
const COOKIE = 'edge-users-oauth'
const COOKIE_PATTERN = /^[A-Za-z0-9_-]{43}$/

/** The browser's flow id: its cookie when it has one, else a new one it is given now. */
async function browserBinding(c: Context<AppEnv>): Promise<string> {
  let value = hostCookie(c, COOKIE)
  if (!value || !COOKIE_PATTERN.test(value)) value = newOpaqueToken()
  setHostCookie(c, COOKIE, value, FLOW_TTL_SECONDS)
  return hashOpaqueToken(value)
}

/**
 * The flow id the browser sent back. Only the `__Host-` cookie counts (a sibling domain can set a
 * cookie without the prefix for ours, and so toss in its own flow), except over plain HTTP on
 * localhost.
 */
export async function browserHashOf(c: Context<AppEnv>): Promise<string | undefined> {
  const value = hostCookie(c, COOKIE)
  return value && COOKIE_PATTERN.test(value) ? hashOpaqueToken(value) : undefined
}

/** The API's origin as this request reached it: where a provider sends the browser back. */
export const requestOrigin = (c: Context<AppEnv>) => new URL(c.req.url).origin

/** The browser a provider flow is bound to: this request's origin, and its flow cookie. */
export const flowBrowser = (c: Context<AppEnv>): FlowBrowser => ({ origin: requestOrigin(c), bind: () => browserBinding(c) })
