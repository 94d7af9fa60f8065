import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { adminCall, asAdmin, asModerator, call, expectProblem, failingFields, signedIn } from './helpers'

type ClientAnswer = {
  client: { client_id: string; type: string; redirect_uris: string[]; grant_types: string[]; skip_consent: boolean }
  client_secret?: string
}

const webClient = (overrides: Record<string, unknown> = {}) => ({
  name: 'Reports',
  type: 'confidential',
  redirect_uris: ['https://reports.example.com/callback'],
  ...overrides,
})

async function created(token: string, body: Record<string, unknown>): Promise<ClientAnswer> {
  const response = await adminCall(token, '/oauth/clients', { json: body })
  expect(response.status, await response.clone().text()).toBe(201)
  return (await response.json()) as ClientAnswer
}

const storedClient = (id: string) =>
  env.DB.prepare('SELECT secret_hash FROM oauth_clients WHERE id = ?').bind(id).first<{ secret_hash: string | null }>()

const auditedFor = async (clientId: string) =>
  (
    await env.DB.prepare("SELECT action FROM audit_events WHERE action LIKE 'admin.oauth_client_%' AND details LIKE ? ORDER BY id")
      .bind(`%${clientId}%`)
      .all<{ action: string }>()
  ).results.map((row) => row.action)

describe('registering a client (admin API)', () => {
  it('gives a confidential client a secret once and keeps only its hash', async () => {
    const admin = await asAdmin()
    const answer = await created(admin.token, webClient())
    expect(answer.client.client_id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(answer.client.grant_types).toEqual(['authorization_code', 'refresh_token'])
    expect(answer.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const stored = await storedClient(answer.client.client_id)
    expect(stored?.secret_hash).toBeTruthy()
    expect(stored?.secret_hash).not.toBe(answer.client_secret)
    const read = (await (await adminCall(admin.token, `/oauth/clients/${answer.client.client_id}`)).json()) as Record<string, unknown>
    expect(JSON.stringify(read)).not.toContain(answer.client_secret)
    expect(await auditedFor(answer.client.client_id)).toEqual(['admin.oauth_client_created'])
  })

  it('gives a public client no secret', async () => {
    const admin = await asAdmin()
    const answer = await created(
      admin.token,
      webClient({ type: 'public', application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'] }),
    )
    expect(answer.client_secret).toBeUndefined()
    expect((await storedClient(answer.client.client_id))?.secret_hash).toBeNull()
  })

  it('is for admins only: no token 401, a user or a moderator 403', async () => {
    await expectProblem(await call('/admin/oauth/clients', { json: webClient() }), 401, 'unauthorized')
    const user = await signedIn()
    await expectProblem(await adminCall(user.tokens.access_token, '/oauth/clients', { json: webClient() }), 403, 'forbidden')
    const moderator = await asModerator()
    await expectProblem(await adminCall(moderator.token, '/oauth/clients'), 403, 'forbidden')
  })

  it('needs the admin’s own recent proof for a write', async () => {
    const admin = await asAdmin()
    await env.DB.prepare('UPDATE sessions SET auth_time = ? WHERE user_id = ?')
      .bind(Date.now() - 3_600_000, admin.user.id)
      .run()
    await expectProblem(await adminCall(admin.token, '/oauth/clients', { json: webClient() }), 403, 'reauthentication_required')
  })

  it.each([
    'javascript:alert(1)',
    'JaVaScRiPt:alert(1)',
    ' javascript:alert(1)',
    'java\tscript:alert(1)',
    'data:text/html,<script>alert(1)</script>',
    'vbscript:msgbox(1)',
    'https://reports.example.com/callback#fragment',
    'https://user:secret@reports.example.com/callback',
    'http://reports.example.com/callback',
    '/callback',
    'HTTPS://reports.example.com/callback',
    'https:/\\evil.example/cb',
    'https://@evil.example/',
    'https://reports.example.com',
    'https://reports.example.com/cb\u2028',
    'https://bücher.example/cb',
  ])('refuses the redirect URI %j for a web client, naming it', async (uri) => {
    const admin = await asAdmin()
    const response = await adminCall(admin.token, '/oauth/clients', {
      json: webClient({ redirect_uris: ['https://ok.example.com/cb', uri] }),
    })
    expect(response.status).toBe(400)
    expect(await failingFields(response)).toEqual(['redirect_uris.1'])
  })

  it('lets a native client use loopback http on any port and a private-use scheme, but not a bare custom scheme, https or a disguised loopback', async () => {
    const admin = await asAdmin()
    await created(admin.token, {
      name: 'Desktop',
      type: 'public',
      application_type: 'native',
      redirect_uris: ['http://127.0.0.1/callback', 'http://[::1]:8400/cb', 'com.example.desktop:/oauth'],
    })
    for (const uri of ['myapp:/oauth', 'https://desktop.example.com/cb', 'http://0x7f000001/cb']) {
      const refused = await adminCall(admin.token, '/oauth/clients', {
        json: { name: 'Desktop', type: 'public', application_type: 'native', redirect_uris: [uri] },
      })
      expect(refused.status, uri).toBe(400)
      expect(await failingFields(refused)).toEqual(['redirect_uris.0'])
    }
  })

  it('lets a web client use http://localhost only while the issuer itself is local', async () => {
    const admin = await asAdmin()
    await created(admin.token, webClient({ redirect_uris: ['http://localhost:3000/callback'] }))
    const production = await call('/admin/oauth/clients', {
      token: admin.token,
      json: webClient({ redirect_uris: ['http://localhost:3000/callback'] }),
      env: { PUBLIC_URL: 'https://auth.example.com', WEBAUTHN_RP_ID: 'example.com', APP_URL: 'https://app.example.com' },
    })
    expect(production.status).toBe(400)
  })

  it('gives client_credentials to confidential clients only', async () => {
    const admin = await asAdmin()
    const refused = await adminCall(admin.token, '/oauth/clients', {
      json: webClient({ type: 'public', grant_types: ['client_credentials'], redirect_uris: [] }),
    })
    expect(refused.status).toBe(400)
    expect(await failingFields(refused)).toEqual(['grant_types'])
    const machine = await created(admin.token, webClient({ grant_types: ['client_credentials'], redirect_uris: [] }))
    expect(machine.client.grant_types).toEqual(['client_credentials'])
  })
})

describe('managing a client', () => {
  it('changes its name, redirect URIs and skip_consent, checking the URIs again', async () => {
    const admin = await asAdmin()
    const { client } = await created(admin.token, webClient())
    const changed = await adminCall(admin.token, `/oauth/clients/${client.client_id}`, {
      method: 'PATCH',
      json: { name: 'Reports 2', redirect_uris: ['https://reports.example.com/v2/callback'], skip_consent: true },
    })
    expect(changed.status).toBe(200)
    const body = (await changed.json()) as ClientAnswer
    expect(body.client.redirect_uris).toEqual(['https://reports.example.com/v2/callback'])
    expect(body.client.skip_consent).toBe(true)
    const refused = await adminCall(admin.token, `/oauth/clients/${client.client_id}`, {
      method: 'PATCH',
      json: { redirect_uris: ['javascript:alert(1)'] },
    })
    expect(refused.status).toBe(400)
    expect(await auditedFor(client.client_id)).toEqual(['admin.oauth_client_created', 'admin.oauth_client_updated'])
  })

  it('rotates a confidential client’s secret: the old hash is gone, and a public client has none to rotate', async () => {
    const admin = await asAdmin()
    const first = await created(admin.token, webClient())
    const before = (await storedClient(first.client.client_id))?.secret_hash
    const rotated = await adminCall(admin.token, `/oauth/clients/${first.client.client_id}/secret`, { method: 'POST' })
    expect(rotated.status).toBe(200)
    const { client_secret } = (await rotated.json()) as ClientAnswer
    expect(client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(client_secret).not.toBe(first.client_secret)
    expect((await storedClient(first.client.client_id))?.secret_hash).not.toBe(before)
    const pub = await created(admin.token, webClient({ type: 'public' }))
    await expectProblem(await adminCall(admin.token, `/oauth/clients/${pub.client.client_id}/secret`, { method: 'POST' }), 404, 'not_found')
  })

  it('deletes a client, audited; a second delete is 404', async () => {
    const admin = await asAdmin()
    const { client } = await created(admin.token, webClient())
    const listed = (await (await adminCall(admin.token, '/oauth/clients')).json()) as { clients: { client_id: string }[] }
    expect(listed.clients.map((entry) => entry.client_id)).toContain(client.client_id)
    expect((await adminCall(admin.token, `/oauth/clients/${client.client_id}`, { method: 'DELETE' })).status).toBe(204)
    await expectProblem(await adminCall(admin.token, `/oauth/clients/${client.client_id}`), 404, 'not_found')
    await expectProblem(await adminCall(admin.token, `/oauth/clients/${client.client_id}`, { method: 'DELETE' }), 404, 'not_found')
    expect(await auditedFor(client.client_id)).toEqual(['admin.oauth_client_created', 'admin.oauth_client_deleted'])
  })
})
