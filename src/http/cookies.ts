import type { Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import type { AppEnv } from '../app-env'

/*
 * The browser's cookies are `__Host-` cookies: Secure, Path=/, no Domain, so a sibling domain can
 * neither set nor overwrite them. A browser refuses a Secure cookie over plain HTTP except on
 * localhost (Chromium not even on 127.0.0.1), so on http://127.0.0.1 (wrangler dev) the same
 * cookie goes without the prefix; anywhere else only the prefixed one is ever read.
 */

/** Plain HTTP is served only on this machine (wrangler dev); anywhere else the API is HTTPS. */
const isLocalHttp = (url: URL) => url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '127.0.0.1')

/**
 * Secure everywhere but plain HTTP on 127.0.0.1, where Chromium would refuse the cookie. Over plain
 * HTTP on any other host a browser drops a Secure cookie: such a deployment signs nobody in,
 * rather than sending a session in cleartext.
 */
const secureHere = (url: URL) => !(url.protocol === 'http:' && url.hostname === '127.0.0.1')

const nameHere = (name: string, url: URL) => (secureHere(url) ? `__Host-${name}` : name)

/** Sets a host cookie: HttpOnly, SameSite=Lax, Path=/, Secure wherever the browser keeps one. */
export function setHostCookie(c: Context<AppEnv>, name: string, value: string, maxAgeSeconds: number): void {
  const url = new URL(c.req.url)
  setCookie(c, nameHere(name, url), value, { httpOnly: true, secure: secureHere(url), sameSite: 'Lax', path: '/', maxAge: maxAgeSeconds })
}

/** The host cookie the browser sent back: only the `__Host-` one, except over plain HTTP on this machine. */
export function hostCookie(c: Context<AppEnv>, name: string): string | undefined {
  return getCookie(c, `__Host-${name}`) ?? (isLocalHttp(new URL(c.req.url)) ? getCookie(c, name) : undefined)
}

/** Tells the browser to forget a host cookie. */
export function clearHostCookie(c: Context<AppEnv>, name: string): void {
  const url = new URL(c.req.url)
  deleteCookie(c, nameHere(name, url), { secure: secureHere(url), path: '/' })
}
