import { env } from 'cloudflare:workers'
import { beforeAll, describe, expect, it } from 'vitest'
import { adminCall, asAdmin, call, claimsOf, failingFields, login, refresh, signup, storedUser, type TokenPair } from './helpers'

type AuditEvent = {
  id: string
  at: string
  action: string
  actor_id: string | null
  target_id: string | null
  ip: string | null
  user_agent: string | null
  details: Record<string, unknown> | null
}

let admin: Awaited<ReturnType<typeof asAdmin>>
beforeAll(async () => {
  admin = await asAdmin()
})

async function allEvents(query = '', limit = 100): Promise<AuditEvent[]> {
  const events: AuditEvent[] = []
  let cursor: string | null = null
  do {
    const response = await adminCall(admin.token, `/audit?limit=${limit}&${query}${cursor ? `&cursor=${cursor}` : ''}`)
    expect(response.status, await response.clone().text()).toBe(200)
    const body = (await response.json()) as { events: AuditEvent[]; next_cursor: string | null }
    events.push(...body.events)
    cursor = body.next_cursor
  } while (cursor)
  return events
}

describe('the audit log', () => {
  /** Everything secret this scenario handled, to prove none of it reaches the log. */
  const secrets: string[] = []
  let userId: string

  beforeAll(async () => {
    const client = { 'CF-Connecting-IP': '203.0.113.7', 'User-Agent': 'audit-test/1.0' }
    const { account, user } = await signup({}, { headers: client })
    userId = user.id
    secrets.push(account.password)
    await call('/users/login', { json: { ...account, password: 'a-wrong-guess-at-it' }, headers: client })
    secrets.push('a-wrong-guess-at-it')
    const first = await login(account, { headers: client })
    const second = (await (await refresh(first.refresh_token, { headers: client })).json()) as TokenPair
    await refresh(first.refresh_token, { headers: client, env: { REFRESH_REUSE_GRACE_SECONDS: '0' } }) // reuse with no grace window: ends that session
    const third = await login(account, { headers: client })
    const fourth = await login(account, { headers: client })
    secrets.push(
      first.access_token,
      first.refresh_token,
      second.access_token,
      second.refresh_token,
      third.refresh_token,
      fourth.refresh_token,
    )

    await call('/users/me', { method: 'PATCH', token: third.access_token, json: { username: `${account.username}_2` }, headers: client })
    const newPassword = 'an-entirely-new-secret-77'
    await call('/users/me/password', {
      token: third.access_token,
      json: { current_password: account.password, new_password: newPassword },
      headers: client,
    })
    secrets.push(newPassword, String((await storedUser(`${account.username}_2`))?.password_hash))
    const fifth = await login({ username: `${account.username}_2`, password: newPassword }, { headers: client })
    await call(`/users/me/sessions/${claimsOf(fifth.access_token).sid}`, { method: 'DELETE', token: third.access_token, headers: client })
    await call('/users/logout', { method: 'POST', token: third.access_token, headers: client })

    await adminCall(admin.token, `/users/${userId}`, { method: 'PATCH', json: { role: 'moderator' } })
    await adminCall(admin.token, `/users/${userId}`, { method: 'PATCH', json: { disabled: true } })
    await adminCall(admin.token, `/users/${userId}`, { method: 'PATCH', json: { disabled: false } })
    await adminCall(admin.token, `/users/${userId}/sessions`, { method: 'DELETE' })
    await adminCall(admin.token, `/users/${userId}`, { method: 'DELETE' })
  })

  it("records every action of a user's life, newest first", async () => {
    const events = await allEvents(`user_id=${userId}`)
    expect(events.map((event) => event.action).reverse()).toEqual([
      'user.signup',
      'user.login_failed',
      'user.login',
      'session.reuse_detected',
      'user.login',
      'user.login',
      'user.updated',
      'user.password_changed',
      'user.login',
      'user.session_revoked',
      'user.logout',
      'admin.role_changed',
      'admin.user_disabled',
      'admin.user_enabled',
      'admin.sessions_revoked',
      'admin.user_deleted',
    ])
    const ids = events.map((event) => event.id)
    expect(ids).toEqual([...ids].sort().reverse())
  })

  it('names the actor, the target, the address and the user agent', async () => {
    const events = await allEvents(`user_id=${userId}`)
    const signupEvent = events.find((event) => event.action === 'user.signup')!
    expect(signupEvent).toMatchObject({ actor_id: userId, target_id: userId, ip: '203.0.113.7', user_agent: 'audit-test/1.0' })
    const roleChange = events.find((event) => event.action === 'admin.role_changed')!
    expect(roleChange).toMatchObject({ actor_id: admin.user.id, target_id: userId, details: { from: 'user', to: 'moderator' } })
    expect(events.find((event) => event.action === 'user.login_failed')).toMatchObject({
      actor_id: null,
      details: { reason: 'wrong_password' },
    })
    expect(new Date(signupEvent.at).toISOString()).toBe(signupEvent.at)
  })

  it('records a failed login for an account that does not exist, without the name tried', async () => {
    const tried = `ghost_${crypto.randomUUID().slice(0, 8)}`
    await call('/users/login', { json: { username: tried, password: 'whatever-it-may-be' } })
    const [latest] = await allEvents('action=user.login_failed', 1)
    expect(latest).toMatchObject({ action: 'user.login_failed', actor_id: null, target_id: null, details: { reason: 'unknown_account' } })
    expect(JSON.stringify(latest)).not.toContain(tried)
  })

  it('never holds a password, a token or a hash', async () => {
    const everything = JSON.stringify(await allEvents())
    const stored = JSON.stringify((await env.DB.prepare('SELECT * FROM audit_events').all()).results)
    for (const secret of secrets) {
      expect(everything).not.toContain(secret)
      expect(stored).not.toContain(secret)
    }
    expect(stored).not.toMatch(/pbkdf2|eyJ/)
  })

  it('filters by action and pages without duplicates', async () => {
    const logins = await allEvents('action=user.login', 2)
    expect(logins.length).toBeGreaterThanOrEqual(5)
    expect(logins.every((event) => event.action === 'user.login')).toBe(true)
    expect(new Set(logins.map((event) => event.id)).size).toBe(logins.length)
  })

  it('rejects an unknown action and a bad cursor', async () => {
    expect(await failingFields(await adminCall(admin.token, '/audit?action=user.exploded'))).toEqual(['action'])
    expect(await failingFields(await adminCall(admin.token, '/audit?cursor=%FF'))).toEqual(['cursor'])
  })
})
