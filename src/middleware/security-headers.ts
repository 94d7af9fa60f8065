import { createMiddleware } from 'hono/factory'

/** What every response carries unless its route set its own value (the docs page sets its CSP). */
const DEFAULTS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'Strict-Transport-Security': 'max-age=63072000; includeSubDomains',
  'X-Frame-Options': 'DENY',
  // JSON needs nothing from a browser: no scripts, no frames, no base, no forms.
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-site',
  // API answers are personal, and token pairs and secrets must never be stored: no-store for every
  // answer, set here once (no handler repeats it); only a route that says so (JWKS) may be cached.
  'Cache-Control': 'no-store',
}

export function securityHeaders() {
  return createMiddleware(async function addSecurityHeaders(c, next) {
    await next()
    for (const [name, value] of Object.entries(DEFAULTS)) {
      if (!c.res.headers.has(name)) c.res.headers.set(name, value)
    }
  })
}
