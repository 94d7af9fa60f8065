import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { adminCall, asAdmin, call, freshIp, ORIGIN } from './helpers'

const ON = { OAUTH_DYNAMIC_REGISTRATION: 'true' }

const register = (body: unknown, options: { env?: Record<string, unknown>; ip?: string } = {}) =>
  call(`${ORIGIN}/oauth2/register`, {
    json: body,
    env: options.env ?? ON,
    headers: { 'CF-Connecting-IP': options.ip ?? freshIp() },
  })

type Registered = { client_id: string; client_secret?: string; token_endpoint_auth_method: string; redirect_uris: string[] }

describe('dynamic client registration (RFC 7591)', () => {
  it('is off unless OAUTH_DYNAMIC_REGISTRATION is on', async () => {
    const response = await register({ redirect_uris: ['https://app.example.com/cb'] }, { env: {} })
    expect(response.status).toBe(404)
  })

  it('registers a public native client (an MCP client, say) without a secret, and a confidential web client with one', async () => {
    const native = await register({
      client_name: 'An MCP client',
      redirect_uris: ['http://127.0.0.1:33418/callback'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    })
    expect(native.status).toBe(201)
    const nativeBody = (await native.json()) as Registered
    expect(nativeBody.client_secret).toBeUndefined()
    expect(nativeBody.token_endpoint_auth_method).toBe('none')
    const web = await register({ client_name: 'Web app', redirect_uris: ['https://app.example.com/cb'] })
    expect(web.status).toBe(201)
    const webBody = (await web.json()) as Registered & { client_secret_expires_at: number }
    expect(webBody.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(webBody.client_secret_expires_at).toBe(0)
    const event = await env.DB.prepare("SELECT actor_id FROM audit_events WHERE action = 'oauth.client_registered' AND details LIKE ?")
      .bind(`%${webBody.client_id}%`)
      .first<{ actor_id: string | null }>()
    expect(event).toEqual({ actor_id: null })
  })

  it.each(['javascript:alert(1)', 'https://app.example.com/cb#x', 'data:text/html,hi', 'http://app.example.com/cb'])(
    'answers the redirect URI %j with invalid_redirect_uri, in OAuth’s error format',
    async (uri) => {
      const response = await register({ redirect_uris: [uri] })
      expect(response.status).toBe(400)
      const body = (await response.json()) as { error: string; error_description: string }
      expect(body.error).toBe('invalid_redirect_uri')
      expect(body.error_description).toMatch(/^redirect_uris\.0 /)
    },
  )

  it('never registers a client_credentials client: a machine client is an admin’s decision', async () => {
    const response = await register({ grant_types: ['client_credentials'] })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client_metadata')
  })

  it('answers bad metadata with invalid_client_metadata', async () => {
    const response = await register({ redirect_uris: ['https://app.example.com/cb'], token_endpoint_auth_method: 'private_key_jwt' })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: string }).error).toBe('invalid_client_metadata')
    const notJson = await call(`${ORIGIN}/oauth2/register`, { rawBody: 'nope', headers: { 'Content-Type': 'application/json' }, env: ON })
    expect(((await notJson.json()) as { error: string }).error).toBe('invalid_client_metadata')
  })

  it('spends from the network’s budget like a sign-up', async () => {
    const ip = freshIp()
    const bindings = { ...ON, RATE_LIMIT_PER_IP_PER_MINUTE: '2' }
    const body = { redirect_uris: ['https://app.example.com/cb'] }
    expect((await register(body, { env: bindings, ip })).status).toBe(201)
    expect((await register(body, { env: bindings, ip })).status).toBe(201)
    const third = await register(body, { env: bindings, ip })
    expect(third.status).toBe(429)
    expect(third.headers.get('Retry-After')).toMatch(/^\d+$/)
  })

  it('never gives a dynamically registered client skip_consent, not even through the admin API', async () => {
    const response = await register({ redirect_uris: ['https://app.example.com/cb'] })
    const { client_id } = (await response.json()) as Registered
    const admin = await asAdmin()
    const refused = await adminCall(admin.token, `/oauth/clients/${client_id}`, { method: 'PATCH', json: { skip_consent: true } })
    expect(refused.status).toBe(400)
    const read = (await (await adminCall(admin.token, `/oauth/clients/${client_id}`)).json()) as {
      client: { skip_consent: boolean; dynamically_registered: boolean }
    }
    expect(read.client).toMatchObject({ skip_consent: false, dynamically_registered: true })
  })
})
