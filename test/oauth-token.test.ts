import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { adminCall, asAdmin, call, decodeJwtPart, freshIp, login, ORIGIN, signup } from './helpers'
import type { TokenAnswer } from './oauth-helpers'

type Client = { client: { client_id: string }; client_secret?: string }
const PUBLIC_URL = 'http://localhost:8787'

async function machineClient(overrides: Record<string, unknown> = {}): Promise<{ id: string; secret: string; admin: string }> {
  const admin = await asAdmin()
  const response = await adminCall(admin.token, '/oauth/clients', {
    json: { name: 'Nightly job', type: 'confidential', redirect_uris: [], grant_types: ['client_credentials'], ...overrides },
  })
  expect(response.status, await response.clone().text()).toBe(201)
  const body = (await response.json()) as Client
  return { id: body.client.client_id, secret: body.client_secret ?? '', admin: admin.token }
}

const basic = (id: string, secret: string) => `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`

function token(
  form: Record<string, string | string[]>,
  options: { headers?: Record<string, string>; env?: Record<string, unknown>; ip?: string } = {},
) {
  const body = new URLSearchParams()
  for (const [name, value] of Object.entries(form)) for (const one of [value].flat()) body.append(name, one)
  return call(`${ORIGIN}/oauth2/token`, {
    method: 'POST',
    rawBody: body.toString(),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'CF-Connecting-IP': options.ip ?? freshIp(), ...options.headers },
    env: options.env,
  })
}

async function answer(response: Response): Promise<TokenAnswer> {
  return (await response.json()) as TokenAnswer
}

describe('the token endpoint: client_credentials', () => {
  it('gives a confidential client an RFC 9068 access token about itself, with HTTP Basic, and nothing else', async () => {
    const client = await machineClient()
    const response = await token({ grant_type: 'client_credentials' }, { headers: { Authorization: basic(client.id, client.secret) } })
    expect(response.status).toBe(200)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    const body = await answer(response)
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 900 })
    expect(body.refresh_token).toBeUndefined()
    expect(body.id_token).toBeUndefined()
    const [header, claims] = body.access_token!.split('.').map((part, i) => (i < 2 ? decodeJwtPart(part) : part)) as Record<
      string,
      unknown
    >[]
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' })
    expect(claims).toMatchObject({ iss: PUBLIC_URL, sub: client.id, aud: PUBLIC_URL, client_id: client.id })
    expect(typeof claims!.jti).toBe('string')
    const jwks = (await (await call(`${ORIGIN}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] }
    expect(jwks.keys.map((key) => key.kid)).toContain(header!.kid)
  })

  it('takes the secret in the form (client_secret_post) too', async () => {
    const client = await machineClient()
    const response = await token({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret })
    expect(response.status).toBe(200)
  })

  it('never lets the account API accept a client’s token', async () => {
    const client = await machineClient()
    const body = await answer(await token({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }))
    const me = await call('/users/me', { token: body.access_token })
    expect(me.status).toBe(401)
    // Not even when the account API's issuer and audience are set to the provider's own.
    const same = { JWT_ISSUER: PUBLIC_URL, JWT_AUDIENCE: PUBLIC_URL }
    const client2 = await machineClient()
    const issued = await answer(
      await token({ grant_type: 'client_credentials', client_id: client2.id, client_secret: client2.secret }, { env: same }),
    )
    expect((await call('/users/me', { token: issued.access_token, env: same })).status).toBe(401)
  })

  it('refuses a public client that sends a secret (it has none), and a confidential one that sends none', async () => {
    const admin = await asAdmin()
    const created = await adminCall(admin.token, '/oauth/clients', {
      json: { name: 'SPA', type: 'public', redirect_uris: ['https://spa.example.com/cb'] },
    })
    const publicId = ((await created.json()) as Client).client.client_id
    const withSecret = await token({ grant_type: 'client_credentials', client_id: publicId, client_secret: 'made-up' })
    expect(withSecret.status).toBe(401)
    expect((await answer(withSecret)).error).toBe('invalid_client')
    const machine = await machineClient()
    const bare = await token({ grant_type: 'client_credentials', client_id: machine.id })
    expect(bare.status).toBe(401)
  })

  it('refuses a wrong secret with 401 invalid_client and a Basic challenge, audited', async () => {
    const client = await machineClient()
    const response = await token({ grant_type: 'client_credentials' }, { headers: { Authorization: basic(client.id, 'not-the-secret') } })
    expect(response.status).toBe(401)
    expect(response.headers.get('WWW-Authenticate')).toMatch(/^Basic /)
    expect((await answer(response)).error).toBe('invalid_client')
    const event = await env.DB.prepare("SELECT details FROM audit_events WHERE action = 'oauth.client_auth_failed' AND details LIKE ?")
      .bind(`%${client.id}%`)
      .first<{ details: string }>()
    expect(JSON.parse(event!.details)).toMatchObject({ reason: 'wrong_secret', method: 'client_secret_basic' })
    const unknown = await token({ grant_type: 'client_credentials', client_id: 'no-such-client', client_secret: 'x' })
    expect(unknown.status).toBe(401)
    expect(unknown.headers.get('WWW-Authenticate')).toBeNull()
  })

  it('spends from the network’s budget on every request, so a spent budget answers right and wrong secrets alike', async () => {
    const client = await machineClient()
    const ip = freshIp()
    const bindings = { RATE_LIMIT_PER_IP_PER_MINUTE: '2' }
    const wrong = { grant_type: 'client_credentials', client_id: client.id, client_secret: 'wrong' }
    expect((await token(wrong, { ip, env: bindings })).status).toBe(401)
    expect((await token(wrong, { ip, env: bindings })).status).toBe(401)
    const third = await token({ ...wrong, client_secret: client.secret }, { ip, env: bindings })
    expect(third.status).toBe(429)
    expect(third.headers.get('Retry-After')).toMatch(/^\d+$/)
  })

  it('judges nothing before the budget answers: past it, a wrong secret, a malformed Basic header and a body that is not a form are 429, none audited', async () => {
    const client = await machineClient()
    const ip = freshIp()
    const bindings = { RATE_LIMIT_PER_IP_PER_MINUTE: '1' }
    expect(
      (await token({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }, { ip, env: bindings })).status,
    ).toBe(200)
    const audited = async () =>
      (
        await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE action = 'oauth.client_auth_failed' AND ip = ?")
          .bind(ip)
          .first<{ n: number }>()
      )?.n
    expect(
      (await token({ grant_type: 'client_credentials', client_id: client.id, client_secret: 'wrong' }, { ip, env: bindings })).status,
    ).toBe(429)
    const malformed = { headers: { Authorization: `Basic ${btoa('no-colon-here')}` }, ip, env: bindings }
    expect((await token({ grant_type: 'client_credentials' }, malformed)).status).toBe(429)
    const notAForm = await call(`${ORIGIN}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': ip },
      rawBody: '{}',
      env: bindings,
    })
    expect(notAForm.status).toBe(429)
    expect(await audited()).toBe(0)
  })

  it('audits a malformed Basic header as a failed client authentication', async () => {
    const response = await token({ grant_type: 'client_credentials' }, { headers: { Authorization: `Basic ${btoa('no-colon-here')}` } })
    expect(response.status).toBe(401)
    const event = await env.DB.prepare(
      "SELECT 1 AS found FROM audit_events WHERE action = 'oauth.client_auth_failed' AND details LIKE '%malformed_basic%'",
    ).first()
    expect(event).not.toBeNull()
  })

  it('stops taking a secret once it is rotated, and a client once it is deleted', async () => {
    const client = await machineClient()
    expect((await adminCall(client.admin, `/oauth/clients/${client.id}/secret`, { method: 'POST' })).status).toBe(200)
    expect((await token({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret })).status).toBe(401)
    const other = await machineClient()
    expect((await adminCall(other.admin, `/oauth/clients/${other.id}`, { method: 'DELETE' })).status).toBe(204)
    expect((await token({ grant_type: 'client_credentials', client_id: other.id, client_secret: other.secret })).status).toBe(401)
  })

  it('is for confidential clients given the grant: unauthorized_client otherwise', async () => {
    const web = await machineClient({ grant_types: ['authorization_code'], redirect_uris: ['https://app.example.com/cb'] })
    const refused = await token({ grant_type: 'client_credentials', client_id: web.id, client_secret: web.secret })
    expect(refused.status).toBe(400)
    expect((await answer(refused)).error).toBe('unauthorized_client')
    const publicClient = await asAdmin().then(async (admin) => {
      const response = await adminCall(admin.token, '/oauth/clients', {
        json: { name: 'SPA', type: 'public', redirect_uris: ['https://spa.example.com/cb'] },
      })
      return ((await response.json()) as Client).client.client_id
    })
    const pub = await token({ grant_type: 'client_credentials', client_id: publicClient })
    expect((await answer(pub)).error).toBe('unauthorized_client')
  })

  it('issues the token for one listed resource (RFC 8707), and refuses others with invalid_target', async () => {
    const client = await machineClient()
    const bindings = { OAUTH_RESOURCES: JSON.stringify(['https://reports.example.com/api']) }
    const form = { grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }
    const ok = await answer(await token({ ...form, resource: 'https://reports.example.com/api' }, { env: bindings }))
    expect(decodeJwtPart(ok.access_token!.split('.')[1]!).aud).toBe('https://reports.example.com/api')
    const other = await token({ ...form, resource: 'https://elsewhere.example.com/' }, { env: bindings })
    expect(other.status).toBe(400)
    expect((await answer(other)).error).toBe('invalid_target')
    const two = await token({ ...form, resource: ['https://reports.example.com/api', PUBLIC_URL] }, { env: bindings })
    expect((await answer(two)).error).toBe('invalid_target')
  })

  it('grants a machine client no scope: a scope it writes itself is invalid_scope', async () => {
    const client = await machineClient()
    const form = { grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }
    for (const scope of ['admin', 'reports:read', 'openid'])
      expect((await answer(await token({ ...form, scope }))).error).toBe('invalid_scope')
    const plain = await answer(await token(form))
    expect(plain.scope).toBeUndefined()
    expect(decodeJwtPart(plain.access_token!.split('.')[1]!).scope).toBeUndefined()
  })

  it('answers a bad request in OAuth’s format', async () => {
    const client = await machineClient()
    const missing = await token({ client_id: client.id, client_secret: client.secret })
    expect(await answer(missing)).toMatchObject({ error: 'invalid_request' })
    const other = await token({ grant_type: 'password', client_id: client.id, client_secret: client.secret })
    expect(await answer(other)).toMatchObject({ error: 'unsupported_grant_type' })
    const json = await call(`${ORIGIN}/oauth2/token`, { json: { grant_type: 'client_credentials' } })
    expect(json.status).toBe(400)
    expect(await answer(json)).toMatchObject({ error: 'invalid_request' })
    const both = await token(
      { grant_type: 'client_credentials', client_secret: client.secret },
      { headers: { Authorization: basic(client.id, client.secret) } },
    )
    expect(await answer(both)).toMatchObject({ error: 'invalid_request' })
  })
})

describe('introspection (RFC 7662)', () => {
  const introspect = (caller: { id: string; secret: string }, tokenValue: string) =>
    call(`${ORIGIN}/oauth2/introspect`, {
      method: 'POST',
      rawBody: new URLSearchParams({ token: tokenValue }).toString(),
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        Authorization: basic(caller.id, caller.secret),
        'CF-Connecting-IP': freshIp(),
      },
    })

  it('tells a confidential client what a live client token says', async () => {
    const issuer = await machineClient()
    const resourceServer = await machineClient()
    const issued = await answer(await token({ grant_type: 'client_credentials', client_id: issuer.id, client_secret: issuer.secret }))
    const response = await introspect(resourceServer, issued.access_token!)
    expect(response.status).toBe(200)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    expect(await response.json()).toMatchObject({
      active: true,
      client_id: issuer.id,
      sub: issuer.id,
      aud: PUBLIC_URL,
      iss: PUBLIC_URL,
      token_type: 'Bearer',
    })
  })

  it('answers {active: false} for a first-party token, a forged one, and one whose client was deleted', async () => {
    const resourceServer = await machineClient()
    const { account } = await signup()
    const firstParty = await login(account)
    expect(await (await introspect(resourceServer, firstParty.access_token)).json()).toEqual({ active: false })
    expect(await (await introspect(resourceServer, 'not.a.token')).json()).toEqual({ active: false })
    const doomed = await machineClient()
    const issued = await answer(await token({ grant_type: 'client_credentials', client_id: doomed.id, client_secret: doomed.secret }))
    expect((await adminCall(doomed.admin, `/oauth/clients/${doomed.id}`, { method: 'DELETE' })).status).toBe(204)
    expect(await (await introspect(resourceServer, issued.access_token!)).json()).toEqual({ active: false })
  })

  it('is for authenticated confidential clients only', async () => {
    const issued = await machineClient()
    const tokenValue = (await answer(await token({ grant_type: 'client_credentials', client_id: issued.id, client_secret: issued.secret })))
      .access_token!
    const anonymous = await call(`${ORIGIN}/oauth2/introspect`, {
      method: 'POST',
      rawBody: new URLSearchParams({ token: tokenValue }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    })
    expect(anonymous.status).toBe(401)
    expect(((await anonymous.json()) as { error: string }).error).toBe('invalid_client')
  })
})
