import { afterEach, describe, expect, it, vi } from 'vitest'
import { call, newAccount, ORIGIN, signedIn, signup, type TokenPair } from './helpers'

afterEach(() => {
  vi.restoreAllMocks()
})

const CORS = { CORS_ORIGINS: 'https://app.example.com, https://admin.example.com' }

describe('security headers', () => {
  it('sends nosniff, HSTS, frame denial and a strict CSP on JSON, errors included', async () => {
    for (const response of [await call('/hello'), await call('/nope'), await call('/users/login', { json: {} })]) {
      expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff')
      expect(response.headers.get('Strict-Transport-Security')).toMatch(/^max-age=\d{8,}; includeSubDomains$/)
      expect(response.headers.get('X-Frame-Options')).toBe('DENY')
      expect(response.headers.get('Content-Security-Policy')).toBe(
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      )
      expect(response.headers.get('Referrer-Policy')).toBe('no-referrer')
    }
  })

  it('forbids caching of API answers, tokens above all, but lets the key set be cached', async () => {
    const { account } = await signup()
    const loginResponse = await call('/users/login', { json: account })
    expect(loginResponse.headers.get('Cache-Control')).toBe('no-store')
    expect((await call('/hello')).headers.get('Cache-Control')).toBe('no-store')
    expect((await call(`${ORIGIN}/.well-known/jwks.json`)).headers.get('Cache-Control')).toBe('public, max-age=300')
  })

  it('lets the docs page run only scripts that carry its nonce, all from this origin', async () => {
    const response = await call('/docs')
    const policy = response.headers.get('Content-Security-Policy')!
    const nonce = /script-src 'nonce-([0-9a-f]{32})'/.exec(policy)?.[1]
    expect(nonce).toBeDefined()
    expect(policy).toContain("default-src 'none'")
    const html = await response.text()
    const scripts = [...html.matchAll(/<script[^>]*>/g)].map((match) => match[0])
    expect(scripts.length).toBe(2)
    for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`)
    for (const [, src] of html.matchAll(/<script[^>]+src="([^"]+)"/g)) expect(src).toMatch(/^\/docs-assets\//)
    const again = (await call('/docs')).headers.get('Content-Security-Policy')
    expect(again).not.toBe(policy)
  })
})

describe('CORS', () => {
  it('sends no CORS headers when CORS_ORIGINS is empty', async () => {
    const response = await call('/hello', { headers: { Origin: 'https://app.example.com' } })
    expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull()
  })

  it('allows exactly the configured origins', async () => {
    const allowed = await call('/hello', { headers: { Origin: 'https://admin.example.com' }, env: CORS })
    expect(allowed.headers.get('Access-Control-Allow-Origin')).toBe('https://admin.example.com')
    expect(allowed.headers.get('Access-Control-Expose-Headers')).toContain('X-Request-Id')
    const other = await call('/hello', { headers: { Origin: 'https://evil.example.com' }, env: CORS })
    expect(other.headers.get('Access-Control-Allow-Origin')).toBeNull()
    expect(allowed.headers.get('Access-Control-Allow-Credentials')).toBeNull()
  })

  it('answers a preflight from an allowed origin', async () => {
    const response = await call('/users/login', {
      method: 'OPTIONS',
      env: CORS,
      headers: {
        Origin: 'https://app.example.com',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    })
    expect(response.status).toBe(204)
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe('https://app.example.com')
    expect(response.headers.get('Access-Control-Allow-Methods')).toContain('POST')
    expect(response.headers.get('Access-Control-Allow-Headers')?.toLowerCase()).toContain('content-type')
  })

  it('answers a refused origin’s preflight 204 without CORS headers, never 405, with or without CORS_ORIGINS', async () => {
    const preflight = { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST' }
    for (const bindings of [{ CORS_ORIGINS: '' }, CORS]) {
      const response = await call('/users/login', { method: 'OPTIONS', env: bindings, headers: preflight })
      expect(response.status).toBe(204)
      expect(response.headers.get('Access-Control-Allow-Origin')).toBeNull()
    }
  })

  it('names CORS_ORIGINS in one log line when a refused origin calls the API in development', async () => {
    const lines = captureConsole()
    const local = 'http://localhost:8787/api/v1/users/login'
    await call(local, { method: 'OPTIONS', headers: { Origin: 'http://localhost:5173', 'Access-Control-Request-Method': 'POST' } })
    const logged = lines.map((line) => JSON.parse(line) as { event: string; origin?: string; hint?: string })
    expect(logged.filter((line) => line.event === 'cors.origin_refused')).toEqual([
      { level: 'warn', event: 'cors.origin_refused', origin: 'http://localhost:5173', hint: expect.stringContaining('CORS_ORIGINS') },
    ])
    // A deployment's refusals are its clients' business: no line per request there.
    lines.length = 0
    await call('/users/login', {
      method: 'OPTIONS',
      headers: { Origin: 'https://elsewhere.example', 'Access-Control-Request-Method': 'POST' },
    })
    expect(lines.filter((line) => line.includes('cors.origin_refused'))).toEqual([])
  })
})

/** Every line the worker logs from here on, instead of on the console. */
function captureConsole(): string[] {
  const lines: string[] = []
  const capture = (...args: unknown[]) => void lines.push(args.map(String).join(' '))
  for (const method of ['log', 'warn', 'error'] as const) vi.spyOn(console, method).mockImplementation(capture)
  return lines
}

describe('logs', () => {
  it('logs no line per request by default, but still logs a security event', async () => {
    const lines = captureConsole()
    const { tokens } = await signedIn()
    await call('/users/refresh', { json: { refresh_token: tokens.refresh_token } })
    await call('/users/refresh', { json: { refresh_token: tokens.refresh_token }, env: { REFRESH_REUSE_GRACE_SECONDS: '0' } })
    const events = lines.map((line) => (JSON.parse(line) as { event: string }).event)
    expect(events).not.toContain('request')
    expect(events).toContain('session.reuse_detected')
  })

  it("takes the request id from Cloudflare's CF-Ray, so a problem body points at the platform's log of the invocation", async () => {
    const response = await call('/nope', { headers: { 'CF-Ray': '8f1a2b3c4d5e6f70-AMS', 'X-Request-Id': 'client-id' } })
    expect(response.headers.get('X-Request-Id')).toBe('8f1a2b3c4d5e6f70-AMS')
    expect(((await response.json()) as { request_id: string }).request_id).toBe('8f1a2b3c4d5e6f70-AMS')
  })

  it('with LOG_REQUESTS, writes one JSON line per request with its id, and never a password or a token', async () => {
    const lines = captureConsole()

    const env = { LOG_REQUESTS: 'true' }
    const account = newAccount()
    await call('/users/signup', { json: account, env })
    const tokens = (await (await call('/users/login', { json: account, env })).json()) as TokenPair
    await call('/users/login', { json: { ...account, password: 'the-wrong-password-1' }, env })
    const again = (await (await call('/users/login', { json: account, env })).json()) as TokenPair
    await call(`/users/me?access_token=${again.access_token}`, { env })
    await call('/users/refresh', { json: { refresh_token: tokens.refresh_token }, env })
    // Presented again with no grace window: theft, not a retry.
    await call('/users/refresh', { json: { refresh_token: tokens.refresh_token }, env: { ...env, REFRESH_REUSE_GRACE_SECONDS: '0' } })

    const requests = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.event === 'request')
    expect(requests.length).toBeGreaterThanOrEqual(6)
    for (const entry of requests) {
      expect(entry).toMatchObject({
        level: expect.any(String),
        request_id: expect.any(String),
        method: expect.any(String),
        status: expect.any(Number),
      })
    }
    const everything = lines.join('\n')
    for (const secret of [
      account.password,
      'the-wrong-password-1',
      tokens.access_token,
      tokens.refresh_token,
      again.access_token,
      again.refresh_token,
    ]) {
      expect(everything).not.toContain(secret)
    }
    expect(everything).toContain('session.reuse_detected')
  })
})
