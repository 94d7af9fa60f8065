import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { asAdmin, call, signedIn, signup } from './helpers'

/*
 * Property tests: random and hostile input at every route that takes a body. Whatever arrives,
 * the answer is a deliberate one (a success for input that happens to be valid, or a 4xx problem)
 * and never a 5xx or a glimpse of the internals.
 */

const RUNS = 40
const LEAKS = /SQLITE|D1_|constraint|drizzle|stack|at [\w.]+ \(|\bSELECT\b|\bINSERT\b|TypeError|ReferenceError|undefined is not/i

const hostileKeys = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  'username',
  'email',
  'password',
  'role',
  'disabled',
  'refresh_token',
  'current_password',
  'new_password',
)

const hostileStrings = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'grapheme', minLength: 200, maxLength: 2000 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\uD800',
    '\uDFFF\uD800',
    'e\u0301'.repeat(40),
    '😀'.repeat(300),
    "' OR '1'='1' --",
    'admin"; DROP TABLE users; --',
    '<script>alert(1)</script>',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Log4Shell probe string, meant literally
    '${jndi:ldap://x/a}',
    '../../../../etc/passwd',
    'a'.repeat(15_000),
    'Ada@Example.COM',
    'correct-horse-battery-staple-9',
  ),
)

const leaf = fc.oneof(hostileStrings, fc.integer(), fc.double(), fc.boolean(), fc.constant(null))

const { json: hostileJson } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('json'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(hostileKeys, fc.string({ maxLength: 12 })), tie('json'), { maxKeys: 6 }),
  ),
}))

/** Bodies shaped like the real ones, with hostile values, so the validators are reached often. */
const nearMiss = fc.dictionary(hostileKeys, leaf, { maxKeys: 6 })

async function expectDeliberateAnswer(response: Response, label: string) {
  const text = await response.text()
  expect(response.status, `${label}: ${text}`).toBeLessThan(500)
  if (response.status >= 400) {
    expect(response.headers.get('Content-Type'), label).toBe('application/problem+json')
    const problem = JSON.parse(text) as { code: string; status: number }
    expect(problem.status).toBe(response.status)
  }
  expect(text, label).not.toMatch(LEAKS)
}

type Route = { label: string; method: string; path: () => string; token?: () => string }

let routes: Route[]

beforeAll(async () => {
  const user = await signedIn()
  const admin = await asAdmin()
  const target = await signup()
  routes = [
    { label: 'POST /users/signup', method: 'POST', path: () => '/users/signup' },
    { label: 'POST /users/login', method: 'POST', path: () => '/users/login' },
    { label: 'POST /users/refresh', method: 'POST', path: () => '/users/refresh' },
    { label: 'POST /users/logout', method: 'POST', path: () => '/users/logout', token: () => 'not-a-token' },
    { label: 'PATCH /users/me', method: 'PATCH', path: () => '/users/me', token: () => user.tokens.access_token },
    { label: 'POST /users/me/password', method: 'POST', path: () => '/users/me/password', token: () => user.tokens.access_token },
    { label: 'DELETE /users/me', method: 'DELETE', path: () => '/users/me', token: () => user.tokens.access_token },
    { label: 'PATCH /admin/users/{id}', method: 'PATCH', path: () => `/admin/users/${target.user.id}`, token: () => admin.token },
  ]
})

describe('hostile input at every body-taking route', () => {
  it('answers any JSON value with a deliberate status, never a 5xx or a leak', async () => {
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(fc.oneof(hostileJson, nearMiss), async (body) => {
          const response = await call(route.path(), { method: route.method, json: body, token: route.token?.() })
          await expectDeliberateAnswer(response, route.label)
        }),
        { numRuns: RUNS },
      )
    }
  })

  it('answers arbitrary bytes with 400, 413 or 415, never a 5xx', async () => {
    for (const route of routes) {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 256 }),
          fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1'),
          async (bytes, contentType) => {
            const response = await call(route.path(), {
              method: route.method,
              rawBody: bytes,
              headers: { 'Content-Type': contentType },
              token: route.token?.(),
            })
            await expectDeliberateAnswer(response, route.label)
          },
        ),
        { numRuns: RUNS / 2 },
      )
    }
  })

  it('survives deep nesting and prototype-pollution keys without effect', async () => {
    const deep = `${'['.repeat(4000)}${']'.repeat(4000)}`
    const deepObject = `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`
    const polluting =
      '{"__proto__":{"role":"admin","isAdmin":true},"constructor":{"prototype":{"role":"admin"}},"username":"proto_user","email":"proto@example.com","password":"a-fine-long-password-1"}'
    for (const route of routes) {
      for (const raw of [deep, deepObject, polluting]) {
        const response = await call(route.path(), {
          method: route.method,
          rawBody: raw,
          headers: { 'Content-Type': 'application/json' },
          token: route.token?.(),
        })
        await expectDeliberateAnswer(response, route.label)
      }
    }
    // The polluting signup, if it was accepted, made an ordinary user, and nothing leaked into objects.
    const created = await call('/users/login', { json: { username: 'proto_user', password: 'a-fine-long-password-1' } })
    if (created.status === 200) expect(((await created.json()) as { user: { role: string } }).user.role).toBe('user')
    expect(({} as Record<string, unknown>).role).toBeUndefined()
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
  })

  it('answers hostile query strings on the admin lists with 200 or 400', async () => {
    const admin = await asAdmin()
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('limit', 'cursor', 'q', 'role', 'disabled', 'user_id', 'action'), hostileStrings, { maxKeys: 4 }),
        async (params) => {
          const query = new URLSearchParams(params as Record<string, string>).toString()
          for (const path of ['/admin/users', '/admin/audit']) {
            const response = await call(`${path}?${query}`, { token: admin.token })
            await expectDeliberateAnswer(response, path)
            expect([200, 400]).toContain(response.status)
          }
        },
      ),
      { numRuns: RUNS },
    )
  })
})
