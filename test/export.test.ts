import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { call, login, signedIn, signup } from './helpers'

type Export = {
  exported_at: string
  user: { id: string; username: string; email: string }
  sessions: Record<string, unknown>[]
  audit_events: { id: string; action: string; actor_id: string | null; target_id: string | null }[]
}

const exportOf = (token: string) => call('/users/me/export', { token })

describe('GET /users/me/export', () => {
  it('downloads the profile, every session without a token or hash, and every event naming the user, and nothing of anyone else', async () => {
    const { account, tokens, user } = await signedIn()
    await login(account) // a second session
    await call('/users/me', { method: 'PATCH', token: tokens.access_token, json: { username: `${account.username}x` } })
    const other = await signedIn()

    const response = await exportOf(tokens.access_token)
    expect(response.status).toBe(200)
    expect(response.headers.get('Content-Type')).toMatch(/^application\/json/)
    expect(response.headers.get('Content-Disposition')).toBe(`attachment; filename="edge-users-export-${account.username}x.json"`)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    const text = await response.text()
    const data = JSON.parse(text) as Export
    expect(data.user.id).toBe(user.id)
    expect(data.sessions).toHaveLength(2)
    for (const session of data.sessions)
      expect(Object.keys(session).sort()).toEqual([
        'aal',
        'amr',
        'auth_time',
        'created_at',
        'expires_at',
        'id',
        'last_used_at',
        'user_agent',
      ])
    expect(data.audit_events.map((event) => event.action)).toEqual(['user.updated', 'user.login', 'user.login', 'user.signup'])
    for (const event of data.audit_events) expect([event.actor_id, event.target_id]).toContain(user.id)
    expect(text).not.toContain(other.user.id)
    expect(text).not.toContain(tokens.refresh_token)
    expect(text).not.toMatch(/pbkdf2|refresh_token_hash|password/i)
  })

  it('streams a long history page by page, every event once and newest first', async () => {
    const { account, tokens, user } = await signup().then(async ({ account, user }) => ({ account, user, tokens: await login(account) }))
    // 450 more events than one page holds, written straight into the log.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 450)
       INSERT INTO audit_events (id, at, action, actor_id, target_id, ip, user_agent, details)
       SELECT printf('0190a0a0-0000-7000-8000-%012d', i), 1700000000000 + i, 'user.login', ?1, ?1, NULL, NULL, NULL FROM n`,
    )
      .bind(user.id)
      .run()
    const data = (await (await exportOf(tokens.access_token)).json()) as Export
    expect(data.audit_events).toHaveLength(452)
    const ids = data.audit_events.map((event) => event.id)
    expect(new Set(ids).size).toBe(452)
    expect([...ids].sort().reverse()).toEqual(ids)
    expect(account.username).toBe(data.user.username)
  })

  it('needs a token', async () => {
    expect((await call('/users/me/export')).status).toBe(401)
  })
})
