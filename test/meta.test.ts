import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { call, expectProblem, newAccount, ORIGIN, signedIn } from './helpers'

describe('hello and health', () => {
  it('greets on /hello', async () => {
    const response = await call('/hello')
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ msg: 'hello world' })
  })

  it('reports the database as ok on /health', async () => {
    const response = await call('/health')
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: 'ok', db: 'ok' })
  })

  it('gives every response an X-Request-Id, errors included', async () => {
    for (const path of ['/hello', '/no-such-route', '/users/login']) {
      const response = await call(path, path === '/users/login' ? { json: {} } : {})
      expect(response.headers.get('X-Request-Id'), path).toMatch(/^[\w-]{8,}$/)
    }
  })

  it('keeps a well-formed X-Request-Id the client sent, so logs can be correlated', async () => {
    const response = await call('/hello', { headers: { 'X-Request-Id': 'client-trace-42' } })
    expect(response.headers.get('X-Request-Id')).toBe('client-trace-42')
  })

  it('replaces a client X-Request-Id longer than 64 characters or holding anything but A-Z a-z 0-9 - _ .', async () => {
    const fine = 'a.B-c_9x'.repeat(8)
    expect((await call('/hello', { headers: { 'X-Request-Id': fine } })).headers.get('X-Request-Id')).toBe(fine)
    for (const sent of [`${fine}x`, 'has space', 'quote"inside', 'eq=ual', 'x'.repeat(255), '<script>']) {
      const response = await call('/nope', { headers: { 'X-Request-Id': sent } })
      const replaced = response.headers.get('X-Request-Id')
      expect(replaced, sent).toMatch(/^[0-9a-f-]{36}$/)
      expect(((await response.json()) as { request_id: string }).request_id).toBe(replaced)
    }
  })
})

describe('configuration', () => {
  it('needs SECRET_KEY: missing, short or one repeated byte is a configuration error that names it', async () => {
    for (const value of ['', 'c2hvcnQ=', btoa(String.fromCharCode(...new Uint8Array(32)))]) {
      const problem = await expectProblem(await call('/health', { env: { SECRET_KEY: value } }), 503, 'unavailable')
      expect(problem.detail).toContain('SECRET_KEY')
      if (value) expect(JSON.stringify(problem)).not.toContain(value)
    }
  })

  it('answers health with 503 naming PBKDF2_ITERATIONS above the production cap of 100000', async () => {
    for (const value of ['100001', '600000']) {
      const problem = await expectProblem(await call('/health', { env: { PBKDF2_ITERATIONS: value } }), 503, 'unavailable')
      expect(problem.detail).toContain('PBKDF2_ITERATIONS')
      expect(problem.invalid_config).toEqual([{ name: 'PBKDF2_ITERATIONS', message: expect.stringContaining('100000') }])
    }
  })

  it('accepts PBKDF2_ITERATIONS of exactly 100000', async () => {
    expect((await call('/health', { env: { PBKDF2_ITERATIONS: '100000' } })).status).toBe(200)
  })

  it('names a malformed or missing JWT_PRIVATE_KEYS without echoing it', async () => {
    const secretLooking = '[{"kty":"OKP","crv":"Ed25519","d":"c2VjcmV0LXNlY3JldA","x":"nope","kid":"k1"}]'
    for (const value of ['not json', '[]', secretLooking, '']) {
      const response = await call('/health', { env: { JWT_PRIVATE_KEYS: value } })
      const text = await response.clone().text()
      const problem = await expectProblem(response, 503, 'unavailable')
      expect(problem.detail).toContain('JWT_PRIVATE_KEYS')
      expect(text).not.toContain('c2VjcmV0LXNlY3JldA')
    }
  })

  it('rejects a key whose private and public halves do not belong together', async () => {
    const [good] = JSON.parse(env.JWT_PRIVATE_KEYS) as { x: string }[]
    const spare = JSON.parse(env.TEST_SPARE_KEY) as Record<string, string>
    const mismatched = JSON.stringify([{ ...spare, x: good!.x }])
    const problem = await expectProblem(await call('/health', { env: { JWT_PRIVATE_KEYS: mismatched } }), 503, 'unavailable')
    expect(problem.detail).toContain('JWT_PRIVATE_KEYS')
  })

  it('names every invalid variable at once', async () => {
    const response = await call('/health', {
      env: { PASSWORD_MIN_LENGTH: '7', ACCESS_TOKEN_TTL_SECONDS: 'soon', CORS_ORIGINS: 'not an origin' },
    })
    const problem = await expectProblem(response, 503, 'unavailable')
    const names = (problem.invalid_config as { name: string }[]).map((p) => p.name).sort()
    expect(names).toEqual(['ACCESS_TOKEN_TTL_SECONDS', 'CORS_ORIGINS', 'PASSWORD_MIN_LENGTH'])
  })

  it('fails other routes with 500 internal_error, leaking nothing, while the configuration is bad', async () => {
    const response = await call('/users/signup', { json: newAccount(), env: { PBKDF2_ITERATIONS: '600000' } })
    const problem = await expectProblem(response, 500, 'internal_error')
    expect(JSON.stringify(problem)).not.toContain('PBKDF2')
  })
})

describe('errors', () => {
  it('answers a known path asked with a method it does not serve with 405 and Allow', async () => {
    const response = await call('/users/login')
    await expectProblem(response, 405, 'method_not_allowed')
    expect(response.headers.get('Allow')).toBe('POST')
    // Behind authentication, a caller without a token learns nothing about the path: 401 first.
    const { tokens } = await signedIn()
    const me = await call('/users/me', { method: 'PUT', json: {}, token: tokens.access_token })
    await expectProblem(me, 405, 'method_not_allowed')
    expect(me.headers.get('Allow')).toBe('DELETE, GET, HEAD, PATCH')
    const session = await call('/users/me/sessions/0190a0a0-0000-7000-8000-000000000000', {
      method: 'POST',
      json: {},
      token: tokens.access_token,
    })
    expect(session.headers.get('Allow')).toBe('DELETE')
  })

  it('answers GET / with links to the docs, the OpenAPI document and health', async () => {
    const response = await call(`${ORIGIN}/`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      name: 'edge-users',
      docs: '/api/v1/docs',
      openapi: '/api/v1/openapi.json',
      health: '/api/v1/health',
    })
  })

  it('answers an unknown route with 404 not_found problem details', async () => {
    await expectProblem(await call('/nope'), 404, 'not_found')
    await expectProblem(await call(`${ORIGIN}/elsewhere`), 404, 'not_found')
  })
})

describe('OpenAPI', () => {
  it('publishes an OpenAPI 3 document generated from the validating schemas', async () => {
    const response = await call('/openapi.json')
    expect(response.status).toBe(200)
    const doc = (await response.json()) as {
      openapi: string
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>
      components: { schemas: Record<string, { properties?: Record<string, { pattern?: string }> }> }
    }
    expect(doc.openapi).toMatch(/^3\./)
    for (const path of [
      '/api/v1/hello',
      '/api/v1/health',
      '/api/v1/users/signup',
      '/api/v1/users/login',
      '/api/v1/users/password/forgot',
      '/api/v1/users/password/reset',
      '/api/v1/users/email/verify',
      '/api/v1/users/me/email/verification',
      '/.well-known/jwks.json',
    ]) {
      expect(doc.paths, path).toHaveProperty([path])
    }
    expect(doc.paths['/api/v1/users/signup']!.post!.responses).toHaveProperty(['409'])
    // The username rule in the document is the one the validator enforces.
    expect(doc.components.schemas.SignupRequest!.properties!.username!.pattern).toBe('^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$')
  })

  it('serves a docs page that reads the document with code from this origin only', async () => {
    const response = await call('/docs')
    expect(response.status).toBe(200)
    expect(response.headers.get('Content-Type')).toMatch(/^text\/html/)
    const html = await response.text()
    expect(html).toContain(`/api/v1/openapi.json`)
    expect(html).toContain('<script src="/docs-assets/swagger-ui-bundle.js"')
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//)
    const policy = response.headers.get('Content-Security-Policy') ?? ''
    expect(policy).toMatch(/script-src 'nonce-[0-9a-f]{32}';/)
    expect(policy).toContain("connect-src 'self'")
  })

  it('documents each problem a route answers with its own example', async () => {
    const doc = (await (await call('/openapi.json')).json()) as {
      paths: Record<
        string,
        Record<
          string,
          { responses: Record<string, { content?: Record<string, { examples?: Record<string, { value: { code: string } }> }> }> }
        >
      >
    }
    const unauthorized = doc.paths['/api/v1/users/me']!.get!.responses['401']!.content!['application/problem+json']!.examples!
    expect(unauthorized.unauthorized!.value.code).toBe('unauthorized')
  })

  it('ships signup and login examples that succeed when tried as they are, and names its MIT licence', async () => {
    type Schema = { properties: Record<string, { example?: unknown }> }
    const doc = (await (await call('/openapi.json')).json()) as {
      info: { license: { name: string; identifier: string } }
      components: { schemas: Record<string, Schema> }
    }
    expect(doc.info.license).toEqual({ name: 'MIT', identifier: 'MIT' })
    const exampleOf = (name: string) =>
      Object.fromEntries(Object.entries(doc.components.schemas[name]!.properties).map(([field, schema]) => [field, schema.example]))
    const signupExample = exampleOf('SignupRequest')
    expect((await call('/users/signup', { json: signupExample })).status).toBe(201)
    const loginExample = Object.fromEntries(Object.entries(exampleOf('LoginRequest')).filter(([, value]) => value !== undefined))
    expect((await call('/users/login', { json: loginExample })).status).toBe(200)
  })

  it('tells clients about X-D1-Bookmark in the API description', async () => {
    const doc = (await (await call('/openapi.json')).json()) as { info: { description: string } }
    expect(doc.info.description).toContain('X-D1-Bookmark')
  })

  it('lists the API under /api/v1 only', async () => {
    await expectProblem(await call(`${ORIGIN}/hello`), 404, 'not_found')
  })
})
