import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import {
  call,
  decodeJwtPart,
  expectProblem,
  failingFields,
  login,
  newAccount,
  ORIGIN,
  refresh,
  signup,
  storedUser,
  type TokenPair,
} from './helpers'

// 32 bytes, base64, as `openssl rand -base64 32` prints one.
const PEPPER = 'CzBVep/E6Q4zWH2ix+wRNluApcrvFDleg6jN8hc8YYY='
const OTHER_PEPPER = 'q83Vh7Gm2Xr5pLz0Nw4Ks6Tb9Yc1Fd8Ej3Ua0Io2Pu4='

async function verifiesWithJwks(token: string): Promise<boolean> {
  const { keys } = (await (await call(`${ORIGIN}/.well-known/jwks.json`)).json()) as { keys: (JsonWebKey & { kid: string })[] }
  const [header, payload, signature] = token.split('.') as [string, string, string]
  const jwk = keys.find((key) => key.kid === decodeJwtPart(header).kid)
  if (!jwk) return false
  const key = await crypto.subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, { name: 'Ed25519' }, false, ['verify'])
  const sig = Uint8Array.from(atob(signature.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))
  return crypto.subtle.verify({ name: 'Ed25519' }, key, sig, new TextEncoder().encode(`${header}.${payload}`))
}

describe('login', () => {
  it('answers a username and password with a token pair, not cacheable', async () => {
    const { account, user } = await signup()
    const response = await call('/users/login', { json: { username: account.username, password: account.password } })
    expect(response.status).toBe(200)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    const pair = (await response.json()) as TokenPair
    expect(pair).toEqual({
      access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: 'Bearer',
      expires_in: 900,
      // The session's id, then 256 random bits.
      refresh_token: expect.stringMatching(/^[0-9a-f-]{36}\.[\w-]{43}$/),
      refresh_expires_in: 2_592_000,
      user,
    })
  })

  it('accepts the email in the username field, or as email, in any case', async () => {
    const { account } = await signup()
    await login({ username: account.email.toUpperCase(), password: account.password })
    const response = await call('/users/login', { json: { email: ` ${account.email} `, password: account.password } })
    expect(response.status).toBe(200)
  })

  it('matches the username case-insensitively', async () => {
    const { account } = await signup({ username: 'CamelCaseUser' })
    await login({ username: 'camelcaseuser', password: account.password })
  })

  it('issues an EdDSA at+jwt access token with the contract claims, verifiable through the JWKS', async () => {
    const { account, user } = await signup()
    const before = Math.floor(Date.now() / 1000)
    const { access_token } = await login(account)
    const [header, payload] = access_token.split('.') as [string, string]
    const [configured] = JSON.parse(env.JWT_PRIVATE_KEYS) as { kid: string }[]
    expect(decodeJwtPart(header)).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: configured!.kid })
    const claims = decodeJwtPart(payload)
    expect(claims).toEqual({
      iss: 'edge-users',
      aud: 'edge-users-api',
      sub: user.id,
      sid: expect.stringMatching(/^[0-9a-f-]{36}$/),
      role: 'user',
      iat: expect.any(Number),
      exp: expect.any(Number),
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      auth_time: expect.any(Number),
      amr: ['pwd'],
      aal: 'aal1',
    })
    expect(claims.iat).toBeGreaterThanOrEqual(before)
    expect(claims.auth_time).toBeGreaterThanOrEqual(before)
    expect(claims.auth_time).toBeLessThanOrEqual(claims.iat as number)
    expect((claims.exp as number) - (claims.iat as number)).toBe(900)
    expect(await verifiesWithJwks(access_token)).toBe(true)
  })

  it('follows the configured issuer, audience and lifetimes', async () => {
    const { account } = await signup()
    const overrides = {
      JWT_ISSUER: 'acme-auth',
      JWT_AUDIENCE: 'acme-api',
      ACCESS_TOKEN_TTL_SECONDS: '60',
      REFRESH_TOKEN_TTL_SECONDS: '3600',
    }
    const response = await call('/users/login', { json: account, env: overrides })
    const pair = (await response.json()) as TokenPair
    expect(pair).toMatchObject({ expires_in: 60, refresh_expires_in: 3600 })
    expect(decodeJwtPart(pair.access_token.split('.')[1]!)).toMatchObject({ iss: 'acme-auth', aud: 'acme-api' })
  })

  it('stores a session holding only a hash of the refresh token', async () => {
    const { account, user } = await signup()
    const pair = await login(account, { headers: { 'User-Agent': 'curl/8.5.0' } })
    const { sid } = decodeJwtPart(pair.access_token.split('.')[1]!)
    const session = await env.DB.prepare('SELECT * FROM sessions WHERE id = ?').bind(sid).first<Record<string, unknown>>()
    expect(session).toMatchObject({ user_id: user.id, user_agent: 'curl/8.5.0' })
    expect(JSON.stringify(session)).not.toContain(pair.refresh_token)
    expect(session?.refresh_token_hash).toMatch(/^[\w-]{43}$/)
    expect((session?.expires_at as number) - (session?.created_at as number)).toBe(2_592_000_000)
  })

  it('answers only once the session exists, so its tokens work the moment they arrive', async () => {
    const { account } = await signup()
    for (let i = 0; i < 5; i++) {
      // Straight to the worker, without waiting for work it deferred past its answer.
      const response = await exports.default.fetch(
        new Request(`${ORIGIN}/api/v1/users/login`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': `192.0.2.${i + 1}` },
          body: JSON.stringify(account),
        }),
      )
      const pair = (await response.json()) as TokenPair
      const now = await exports.default.fetch(
        new Request(`${ORIGIN}/api/v1/users/me`, { headers: { Authorization: `Bearer ${pair.access_token}` } }),
      )
      expect(now.status).toBe(200)
      expect((await refresh(pair.refresh_token)).status).toBe(200)
    }
  })

  it('hands out a different refresh token and session on every login', async () => {
    const { account } = await signup()
    const [a, b] = [await login(account), await login(account)]
    expect(a.refresh_token).not.toBe(b.refresh_token)
    expect(decodeJwtPart(a.access_token.split('.')[1]!).sid).not.toBe(decodeJwtPart(b.access_token.split('.')[1]!).sid)
  })

  it('records the time of the last login', async () => {
    const { account } = await signup()
    expect((await storedUser(account.username))?.last_login_at).toBeNull()
    await login(account)
    expect((await storedUser(account.username))?.last_login_at).toEqual(expect.any(Number))
  })

  it('answers a wrong password with 401 invalid_credentials', async () => {
    const { account } = await signup()
    const response = await call('/users/login', { json: { username: account.username, password: `${account.password}x` } })
    await expectProblem(response, 401, 'invalid_credentials')
  })

  it('answers an unknown user and a wrong password with byte-identical bodies', async () => {
    const { account } = await signup()
    const headers = { 'X-Request-Id': 'same-request-id-for-both' }
    const wrong = await call('/users/login', { headers, json: { username: account.username, password: 'not-the-password-at-all' } })
    const unknown = await call('/users/login', { headers, json: { username: 'nobody_here_at_all', password: 'not-the-password-at-all' } })
    expect(wrong.status).toBe(401)
    expect(unknown.status).toBe(401)
    expect(await unknown.text()).toBe(await wrong.text())
    // The D1 bookmark is the database's position when each answer left, moved by every write of anyone's.
    const comparable = (response: Response) =>
      [...response.headers].map(([name, value]) => [name, name === 'x-d1-bookmark' ? '' : value]).sort()
    expect(comparable(unknown)).toEqual(comparable(wrong))
    expect(unknown.headers.get('X-D1-Bookmark')).toMatch(/^[0-9a-f-]+$/)
  })

  it('answers a disabled account with 403 account_disabled only when the password is right', async () => {
    const { account, user } = await signup()
    await env.DB.prepare('UPDATE users SET disabled = 1 WHERE id = ?').bind(user.id).run()
    await expectProblem(await call('/users/login', { json: { ...account, password: 'a-wrong-password-here' } }), 401, 'invalid_credentials')
    await expectProblem(await call('/users/login', { json: account }), 403, 'account_disabled')
  })

  it('requires a username (or email) and a password', async () => {
    expect(await failingFields(await call('/users/login', { json: {} }))).toEqual(['password', 'username'])
    expect(await failingFields(await call('/users/login', { json: { username: 'someone', password: 7 } }))).toEqual(['password'])
  })

  it('answers malformed JSON and non-JSON bodies with the contract errors', async () => {
    await expectProblem(await call('/users/login', { rawBody: '{', headers: { 'Content-Type': 'application/json' } }), 400, 'invalid_json')
    await expectProblem(
      await call('/users/login', { rawBody: 'a=b', headers: { 'Content-Type': 'text/plain' } }),
      415,
      'unsupported_media_type',
    )
  })
})

describe('password hashes over time', () => {
  it('re-hashes at login when the stored iteration count differs from the configured one', async () => {
    const account = newAccount()
    const created = await call('/users/signup', { json: account, env: { PBKDF2_ITERATIONS: '50000' } })
    expect(created.status).toBe(201)
    expect((await storedUser(account.username))?.password_hash).toMatch(/^\$pbkdf2-sha256\$v=1\$i=50000\$/)
    await login(account)
    const rehashed = (await storedUser(account.username))?.password_hash as string
    expect(rehashed).toMatch(/^\$pbkdf2-sha256\$v=1\$i=100000\$/)
    await login(account)
    expect((await storedUser(account.username))?.password_hash).toBe(rehashed)
  })

  it('applies PASSWORD_PEPPER before PBKDF2 and records the pepper by its operator label, not by anything derived from it', async () => {
    const account = newAccount()
    await call('/users/signup', { json: account, env: { PASSWORD_PEPPER: PEPPER, PASSWORD_PEPPER_ID: '2026-a' } })
    expect((await storedUser(account.username))?.password_hash).toMatch(/^\$pbkdf2-sha256\$v=1\$i=100000,k=2026-a\$/)
    const labelled = { PASSWORD_PEPPER: PEPPER, PASSWORD_PEPPER_ID: '2026-a' }
    expect((await call('/users/login', { json: account, env: labelled })).status).toBe(200)
  })

  it('checks a peppered hash only with that pepper', async () => {
    const account = newAccount()
    await call('/users/signup', { json: account, env: { PASSWORD_PEPPER: PEPPER } })
    expect((await storedUser(account.username))?.password_hash).toMatch(/^\$pbkdf2-sha256\$v=1\$i=100000,k=1\$/)
    expect((await call('/users/login', { json: account, env: { PASSWORD_PEPPER: PEPPER } })).status).toBe(200)
    // Without the pepper the stored hash cannot be checked: the login fails rather than guesses.
    await expectProblem(await call('/users/login', { json: account }), 401, 'invalid_credentials')
    await expectProblem(await call('/users/login', { json: account, env: { PASSWORD_PEPPER: OTHER_PEPPER } }), 401, 'invalid_credentials')
  })

  it('adds a newly configured pepper to an unpeppered hash at the next login', async () => {
    const { account } = await signup()
    expect((await storedUser(account.username))?.password_hash).not.toContain(',k=')
    expect((await call('/users/login', { json: account, env: { PASSWORD_PEPPER: PEPPER } })).status).toBe(200)
    expect((await storedUser(account.username))?.password_hash).toMatch(/,k=1\$/)
  })

  it('keys the pepper with the bytes its base64 decodes to, not with its text', async () => {
    const account = newAccount()
    await call('/users/signup', { json: account, env: { PASSWORD_PEPPER: PEPPER } })
    const stored = (await storedUser(account.username))?.password_hash as string
    const [, , , params, salt, hash] = stored.split('$')
    const decode = (text: string) =>
      Uint8Array.from(
        atob(
          text
            .replace(/-/g, '+')
            .replace(/_/g, '/')
            .padEnd(Math.ceil(text.length / 4) * 4, '='),
        ),
        (c) => c.charCodeAt(0),
      )
    const bytes = decode(PEPPER)
    const pepperKey = await crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
    const peppered = await crypto.subtle.sign('HMAC', pepperKey, new TextEncoder().encode(account.password.normalize('NFC')))
    const base = await crypto.subtle.importKey('raw', peppered, 'PBKDF2', false, ['deriveBits'])
    const iterations = Number(/i=(\d+)/.exec(params!)![1])
    const derived = new Uint8Array(
      await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: decode(salt!), iterations }, base, decode(hash!).length * 8),
    )
    expect(derived).toEqual(decode(hash!))
  })

  it('rejects a pepper that is not base64 of at least 32 bytes as a configuration error, without echoing it', async () => {
    const zeros = btoa(String.fromCharCode(...new Uint8Array(32)))
    const sevens = btoa('7'.repeat(48))
    for (const pepper of ['short', 'a-pepper-of-at-least-sixteen-chars', 'c2l4dGVlbiBieXRlcyBvbmx5', zeros, sevens, ` ${zeros} `]) {
      const problem = await expectProblem(await call('/health', { env: { PASSWORD_PEPPER: pepper } }), 503, 'unavailable')
      expect(problem.detail).toContain('PASSWORD_PEPPER')
      expect(JSON.stringify(problem)).not.toContain(pepper)
    }
  })
})

describe('JWKS', () => {
  it('publishes the public half of every configured key, and never a private part', async () => {
    const keys = JSON.stringify([JSON.parse(env.JWT_PRIVATE_KEYS)[0], JSON.parse(env.TEST_SPARE_KEY)])
    const response = await call(`${ORIGIN}/.well-known/jwks.json`, { env: { JWT_PRIVATE_KEYS: keys } })
    expect(response.status).toBe(200)
    const body = (await response.json()) as { keys: Record<string, unknown>[] }
    expect(body.keys).toHaveLength(2)
    for (const key of body.keys) {
      expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x'])
      expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' })
    }
  })

  it('lets caches keep the key set for a few minutes', async () => {
    const response = await call(`${ORIGIN}/.well-known/jwks.json`)
    expect(response.headers.get('Cache-Control')).toBe('public, max-age=300')
  })

  it('leaves the signing key first: tokens carry its kid', async () => {
    const { account } = await signup()
    const [first] = JSON.parse(env.JWT_PRIVATE_KEYS) as { kid: string }[]
    const keys = JSON.stringify([JSON.parse(env.TEST_SPARE_KEY), first])
    const response = await call('/users/login', { json: account, env: { JWT_PRIVATE_KEYS: keys } })
    const { access_token } = (await response.json()) as TokenPair
    expect(decodeJwtPart(access_token.split('.')[0]!).kid).toBe(JSON.parse(env.TEST_SPARE_KEY).kid)
  })
})

describe('JWKS with the OpenID Provider’s RSA key', () => {
  it('publishes the RSA key’s public half beside the Ed25519 keys, never a private part', async () => {
    const body = (await (await call(`${ORIGIN}/.well-known/jwks.json`)).json()) as { keys: Record<string, unknown>[] }
    const rsa = body.keys.filter((key) => key.kty === 'RSA')
    expect(rsa).toHaveLength(1)
    expect(Object.keys(rsa[0]!).sort()).toEqual(['alg', 'e', 'kid', 'kty', 'n', 'use'])
    expect(rsa[0]).toMatchObject({ alg: 'RS256', use: 'sig', e: 'AQAB' })
    expect(body.keys.some((key) => key.kty === 'OKP')).toBe(true)
  })

  it('still signs access tokens with the first Ed25519 key when an RSA key comes first', async () => {
    const { account } = await signup()
    const [ed, rsa] = JSON.parse(env.JWT_PRIVATE_KEYS) as { kid: string; kty: string }[]
    const response = await call('/users/login', { json: account, env: { JWT_PRIVATE_KEYS: JSON.stringify([rsa, ed]) } })
    const { access_token } = (await response.json()) as TokenPair
    expect(decodeJwtPart(access_token.split('.')[0]!)).toMatchObject({ alg: 'EdDSA', kid: ed!.kid })
  })

  it('refuses a key set without an Ed25519 key, or with an RSA key under 2048 bits, without echoing it', async () => {
    const [ed, rsa] = JSON.parse(env.JWT_PRIVATE_KEYS) as Record<string, string>[]
    const short = { ...rsa, n: rsa!.n!.slice(0, 200) }
    // (An RSA JWK whose parts do not belong together is refused too, by the probe signature; workerd
    // logs OpenSSL's complaint about it, so it is left out here to keep the test run quiet.)
    for (const keys of [[rsa], [ed, short]]) {
      const problem = await expectProblem(await call('/health', { env: { JWT_PRIVATE_KEYS: JSON.stringify(keys) } }), 503, 'unavailable')
      expect(problem.detail).toContain('JWT_PRIVATE_KEYS')
      expect(JSON.stringify(problem)).not.toContain(rsa!.d!.slice(0, 20))
    }
  })
})
