import { env } from 'cloudflare:workers'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  call,
  claimsOf,
  configuredKid,
  expectProblem,
  login,
  me,
  signedIn,
  signHs256,
  signToken,
  spareKey,
  type TokenPair,
} from './helpers'

let valid: TokenPair
let goodHeader: Record<string, unknown>
let goodClaims: Record<string, unknown>

beforeAll(async () => {
  ;({ tokens: valid } = await signedIn())
  goodHeader = { alg: 'EdDSA', typ: 'at+jwt', kid: configuredKid() }
  goodClaims = claimsOf(valid.access_token)
})

afterEach(() => {
  vi.useRealTimers()
})

async function expectInvalidToken(token: string) {
  const response = await me(token)
  await expectProblem(response, 401, 'unauthorized')
  expect(response.headers.get('WWW-Authenticate')).toBe('Bearer error="invalid_token", error_description="The access token is invalid"')
  return response
}

async function expectExpiredToken(token: string) {
  const response = await me(token)
  await expectProblem(response, 401, 'unauthorized')
  expect(response.headers.get('WWW-Authenticate')).toBe('Bearer error="invalid_token", error_description="The access token expired"')
}

describe('authentication', () => {
  it('lets a valid access token through', async () => {
    expect((await me(valid.access_token)).status).toBe(200)
  })

  it('accepts a token the test signs itself with the right header and claims (the forgeries below differ only where named)', async () => {
    expect((await me(await signToken(goodHeader, goodClaims))).status).toBe(200)
  })

  it('asks for a token with WWW-Authenticate: Bearer when none is sent', async () => {
    const response = await call('/users/me')
    await expectProblem(response, 401, 'unauthorized')
    expect(response.headers.get('WWW-Authenticate')).toBe('Bearer')
  })

  it('ignores a token in the query string', async () => {
    const response = await call(`/users/me?access_token=${valid.access_token}`)
    await expectProblem(response, 401, 'unauthorized')
    expect(response.headers.get('WWW-Authenticate')).toBe('Bearer')
  })

  it('accepts the Bearer scheme in any case, and nothing else', async () => {
    expect((await call('/users/me', { headers: { Authorization: `bearer ${valid.access_token}` } })).status).toBe(200)
    // Bearer credentials that are malformed: the token is invalid.
    for (const header of ['Bearer', `Bearer ${valid.access_token} extra`]) {
      const response = await call('/users/me', { headers: { Authorization: header } })
      await expectProblem(response, 401, 'unauthorized')
      expect(response.headers.get('WWW-Authenticate')).toBe('Bearer error="invalid_token", error_description="The access token is invalid"')
    }
    // No Bearer credentials at all: RFC 6750 names no error, only the scheme to use.
    for (const header of [`Basic ${valid.access_token}`, valid.access_token]) {
      const response = await call('/users/me', { headers: { Authorization: header } })
      await expectProblem(response, 401, 'unauthorized')
      expect(response.headers.get('WWW-Authenticate')).toBe('Bearer')
    }
  })

  it('says "expired" only of a genuine token past its exp, so the client knows to refresh', async () => {
    const { tokens } = await signedIn()
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 901 * 1000)
    const response = await me(tokens.access_token)
    const problem = await expectProblem(response, 401, 'unauthorized')
    expect(response.headers.get('WWW-Authenticate')).toBe('Bearer error="invalid_token", error_description="The access token expired"')
    expect(problem.detail).toContain('expired')
    // Expired and also forged, or expired and for another audience: nothing more than invalid.
    const exp = Math.floor(Date.now() / 1000) - 10
    await expectInvalidToken(await signToken(goodHeader, { ...goodClaims, exp }, 'spare'))
    await expectInvalidToken(await signToken(goodHeader, { ...goodClaims, exp, aud: 'someone-else' }))
    // A refresh answers it.
    vi.useRealTimers()
    expect((await me(tokens.access_token)).status).toBe(200)
  })
})

describe('forged and malformed access tokens are all 401', () => {
  it('refuses tampered claims', async () => {
    const [header, , signature] = valid.access_token.split('.')
    const promoted = btoa(JSON.stringify({ ...goodClaims, role: 'admin' }))
      .replace(/=+$/, '')
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
    await expectInvalidToken(`${header}.${promoted}.${signature}`)
  })

  it('refuses a stripped or altered signature, even just after the genuine token was accepted', async () => {
    expect((await me(valid.access_token)).status).toBe(200)
    const [header, payload, signature] = valid.access_token.split('.') as [string, string, string]
    await expectInvalidToken(`${header}.${payload}.`)
    await expectInvalidToken(`${header}.${payload}`)
    const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1)
    await expectInvalidToken(`${header}.${payload}.${flipped}`)
    await expectInvalidToken(`${header}.${payload}.${signature}AA`)
  })

  it('refuses alg none in any casing', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const unsigned = `${btoa(JSON.stringify({ ...goodHeader, alg })).replace(/=+$/, '')}.${btoa(JSON.stringify(goodClaims)).replace(/=+$/, '')}.`
      await expectInvalidToken(unsigned)
      await expectInvalidToken(await signToken({ ...goodHeader, alg }, goodClaims))
    }
  })

  it('refuses HS256 signed with the public key as the secret', async () => {
    const { keys } = JSON.parse(JSON.stringify({ keys: JSON.parse(env.JWT_PRIVATE_KEYS) })) as { keys: { x: string }[] }
    const x = keys[0]!.x
    for (const secret of [x, JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x })]) {
      await expectInvalidToken(await signHs256({ ...goodHeader, alg: 'HS256' }, goodClaims, secret))
    }
  })

  it('refuses an unknown or path-like kid, and a missing one', async () => {
    for (const kid of ['unknown-key', '../../../../etc/passwd', '__proto__', 'constructor', '', 7]) {
      await expectInvalidToken(await signToken({ ...goodHeader, kid }, goodClaims))
    }
    const { kid: _, ...withoutKid } = goodHeader
    await expectInvalidToken(await signToken(withoutKid, goodClaims))
  })

  it('refuses a token signed by a key that is not configured, even with its own kid', async () => {
    await expectInvalidToken(await signToken({ ...goodHeader, kid: spareKey().kid }, goodClaims, 'spare'))
  })

  it('refuses the wrong typ, iss or aud', async () => {
    for (const typ of ['JWT', 'jwt', 'at+JWT+x', undefined]) await expectInvalidToken(await signToken({ ...goodHeader, typ }, goodClaims))
    await expectInvalidToken(await signToken(goodHeader, { ...goodClaims, iss: 'someone-else' }))
    await expectInvalidToken(await signToken(goodHeader, { ...goodClaims, aud: 'another-api' }))
    await expectInvalidToken(await signToken(goodHeader, { ...goodClaims, aud: ['another-api'] }))
    const { iss: _iss, ...noIssuer } = goodClaims
    await expectInvalidToken(await signToken(goodHeader, noIssuer))
  })

  it('refuses an expired token, one without exp, and a non-numeric exp', async () => {
    const now = Math.floor(Date.now() / 1000)
    await expectExpiredToken(await signToken(goodHeader, { ...goodClaims, exp: now - 1 }))
    const { exp: _, ...noExpiry } = goodClaims
    await expectInvalidToken(await signToken(goodHeader, noExpiry))
    for (const exp of [String(now + 600), null, now + 600.5, true]) {
      await expectInvalidToken(await signToken(goodHeader, { ...goodClaims, exp }))
    }
  })

  it('refuses a token issued in the future', async () => {
    const now = Math.floor(Date.now() / 1000)
    await expectInvalidToken(await signToken(goodHeader, { ...goodClaims, iat: now + 3600, exp: now + 4000 }))
  })

  it('refuses jku, jwk, x5u, x5c and crit headers', async () => {
    for (const extra of [
      { jku: 'https://evil.test/jwks' },
      { jwk: spareKey() },
      { x5u: 'https://evil.test/cert' },
      { x5c: ['MIIB'] },
      { crit: ['exp'] },
    ]) {
      await expectInvalidToken(await signToken({ ...goodHeader, ...extra }, goodClaims))
    }
  })

  it('refuses duplicated claims, which parsers disagree about', async () => {
    const text = JSON.stringify(goodClaims).replace(/^\{/, `{"role":"admin",`)
    await expectInvalidToken(await signToken(goodHeader, text))
  })

  it('refuses a session id or subject that does not match a live session', async () => {
    await expectInvalidToken(await signToken(goodHeader, { ...goodClaims, sid: crypto.randomUUID() }))
    await expectInvalidToken(await signToken(goodHeader, { ...goodClaims, sub: crypto.randomUUID() }))
  })

  it('refuses garbage of every shape without a 500', async () => {
    for (const token of ['a.b.c', '...', 'e30.e30.e30', '%%%.%%%.%%%', 'x'.repeat(5000)]) {
      const response = await call('/users/me', { headers: { Authorization: `Bearer ${token}` } })
      await expectProblem(response, 401, 'unauthorized')
    }
  })

  it('expires access tokens after ACCESS_TOKEN_TTL_SECONDS', async () => {
    // Times from before the login, so a slow machine between login and here changes nothing.
    const before = Date.now()
    const { tokens } = await signedIn()
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(before + 898_000)
    expect((await me(tokens.access_token)).status).toBe(200)
    vi.setSystemTime(before + 910_000)
    await expectExpiredToken(tokens.access_token)
  })
})

describe('signing key rotation', () => {
  const primary = () => (JSON.parse(env.JWT_PRIVATE_KEYS) as object[])[0]!
  const spare = () => JSON.parse(env.TEST_SPARE_KEY) as object

  it('keeps tokens signed by the old key valid while it is still configured after the new one', async () => {
    const { account } = await signedIn()
    const old = await login(account)
    const rotated = { JWT_PRIVATE_KEYS: JSON.stringify([spare(), primary()]) }
    expect((await me(old.access_token, { env: rotated })).status).toBe(200)

    const fresh = (await (await call('/users/login', { json: account, env: rotated })).json()) as TokenPair
    expect(JSON.parse(atob(fresh.access_token.split('.')[0]!.replace(/-/g, '+').replace(/_/g, '/'))).kid).toBe(spareKey().kid)
    expect((await me(fresh.access_token, { env: rotated })).status).toBe(200)
  })

  it('refuses tokens of a key once it is removed, even one accepted while the key was configured', async () => {
    const { tokens } = await signedIn()
    expect((await me(tokens.access_token)).status).toBe(200)
    const response = await me(tokens.access_token, { env: { JWT_PRIVATE_KEYS: JSON.stringify([spare()]) } })
    await expectProblem(response, 401, 'unauthorized')
  })
})
