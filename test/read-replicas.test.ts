import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { adminCall, asAdmin, call, claimsOf, expectProblem, me, newAccount, signedIn, signup } from './helpers'

/**
 * Locally D1 has one copy of the database, so a lagging read replica is played by a second D1
 * database (TEST_REPLICA) holding a snapshot of the first. The binding below hands a session to
 * the real database wherever D1 guarantees freshness (a session that starts on the primary, or
 * from a bookmark) and to the stale snapshot only where D1 may answer from any replica
 * (`first-unconstrained`). It records where every request's session started.
 */
function laggingReplicas() {
  const starts: string[] = []
  const binding = {
    withSession(start: string) {
      starts.push(start)
      return start === 'first-unconstrained' ? env.TEST_REPLICA.withSession('first-primary') : env.DB.withSession(start)
    },
    prepare: (sql: string) => env.DB.prepare(sql),
    batch: (statements: D1PreparedStatement[]) => env.DB.batch(statements),
  }
  return { starts, binding }
}

const REPLICATED_TABLES = ['users', 'sessions']

/** Makes the replica a copy of the primary as it is now: from here on it lags every write. */
async function snapshotIntoReplica() {
  const statements: D1PreparedStatement[] = []
  for (const table of REPLICATED_TABLES) {
    statements.push(env.TEST_REPLICA.prepare(`DELETE FROM ${table}`))
    const { results } = await env.DB.prepare(`SELECT * FROM ${table}`).all<Record<string, unknown>>()
    for (const row of results) {
      const columns = Object.keys(row)
      statements.push(
        env.TEST_REPLICA.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`).bind(
          ...Object.values(row),
        ),
      )
    }
  }
  await env.TEST_REPLICA.batch(statements)
}

const mode = (authReadMode: 'strict' | 'replica', binding: unknown) => ({ AUTH_READ_MODE: authReadMode, DB: binding })
const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/

describe('D1 sessions and bookmarks', () => {
  it('hands a bookmark back on every answer that used the database', async () => {
    const signedUp = await call('/users/signup', { json: newAccount() })
    expect(signedUp.status).toBe(201)
    expect(signedUp.headers.get('X-D1-Bookmark')).toMatch(BOOKMARK)
    const health = await call('/health')
    expect(health.headers.get('X-D1-Bookmark')).toBeNull()
  })

  it('starts a read from the bookmark the client sends back, in replica mode', async () => {
    const { tokens } = await signedIn()
    const replicas = laggingReplicas()
    const renamed = await call('/users/me', { method: 'PATCH', token: tokens.access_token, json: { username: 'renamed_reader' } })
    expect(renamed.status).toBe(200)
    const bookmark = renamed.headers.get('X-D1-Bookmark')!
    expect(bookmark).toMatch(BOOKMARK)

    const read = await me(tokens.access_token, { env: mode('replica', replicas.binding), headers: { 'X-D1-Bookmark': bookmark } })
    expect(read.status).toBe(200)
    expect(((await read.json()) as { user: { username: string } }).user.username).toBe('renamed_reader')
    expect(replicas.starts).toEqual([bookmark])
    expect(read.headers.get('X-D1-Bookmark')).toMatch(BOOKMARK)
  })

  it('starts every request that may write on the primary, in either mode', async () => {
    const { account, tokens } = await signedIn()
    // A real bookmark, which a read in replica mode would start from: a write must not.
    const bookmark = (await me(tokens.access_token)).headers.get('X-D1-Bookmark')!
    expect(bookmark).toMatch(BOOKMARK)
    for (const authReadMode of ['strict', 'replica'] as const) {
      const replicas = laggingReplicas()
      const env = mode(authReadMode, replicas.binding)
      const headers = { 'X-D1-Bookmark': bookmark }
      await call('/users/login', { json: { username: account.username, password: account.password }, env, headers })
      await call('/users/me', { method: 'PATCH', token: tokens.access_token, json: { username: `${authReadMode}_writer` }, env, headers })
      await call('/users/refresh', { json: { refresh_token: 'not-a-token' }, env, headers })
      expect(replicas.starts).toEqual(['first-primary', 'first-primary', 'first-primary'])
    }
  })

  it('in replica mode, reads at the nearest replica without a bookmark, and on the primary for one that is not a bookmark', async () => {
    const { tokens } = await signedIn()
    await snapshotIntoReplica()
    const replicas = laggingReplicas()
    const env = mode('replica', replicas.binding)
    expect((await me(tokens.access_token, { env })).status).toBe(200)
    expect((await me(tokens.access_token, { env, headers: { 'X-D1-Bookmark': 'first-unconstrained' } })).status).toBe(200)
    expect((await me(tokens.access_token, { env, headers: { 'X-D1-Bookmark': "0000'; drop table users" } })).status).toBe(200)
    expect(replicas.starts).toEqual(['first-unconstrained', 'first-primary', 'first-primary'])
  })
})

describe('revocation and replica lag', () => {
  it('in strict mode (the default), never serves a logged-out session, however far a replica lags', async () => {
    const { tokens } = await signedIn()
    await snapshotIntoReplica()
    expect((await call('/users/logout', { method: 'POST', token: tokens.access_token })).status).toBe(204)

    const replicas = laggingReplicas()
    await expectProblem(await me(tokens.access_token, { env: { DB: replicas.binding } }), 401, 'unauthorized')
    await expectProblem(await me(tokens.access_token, { env: mode('strict', replicas.binding) }), 401, 'unauthorized')
    expect(replicas.starts).toEqual(['first-primary', 'first-primary'])
  })

  it('in strict mode, refuses a disabled account and a revoked session on the next request', async () => {
    const admin = await asAdmin()
    const disabled = await signedIn()
    const revoked = await signedIn()
    await snapshotIntoReplica()
    const disabling = await adminCall(admin.token, `/users/${disabled.user.id}`, { method: 'PATCH', json: { disabled: true } })
    expect(disabling.status).toBe(200)
    const sessionId = claimsOf(revoked.tokens.access_token).sid
    const revoking = await call(`/users/me/sessions/${sessionId}`, { method: 'DELETE', token: revoked.tokens.access_token })
    expect(revoking.status).toBe(204)

    const replicas = laggingReplicas()
    const env = mode('strict', replicas.binding)
    await expectProblem(await me(disabled.tokens.access_token, { env }), 401, 'unauthorized')
    await expectProblem(await me(revoked.tokens.access_token, { env }), 401, 'unauthorized')
  })

  it('in replica mode, may serve a logged-out session while its replica lags, until the client sends its bookmark', async () => {
    const { tokens } = await signedIn()
    await snapshotIntoReplica()
    const logout = await call('/users/logout', { method: 'POST', token: tokens.access_token })
    expect(logout.status).toBe(204)

    const env = mode('replica', laggingReplicas().binding)
    // The trade-off replica mode makes, bounded in SECURITY.md: the stale copy still has the session.
    expect((await me(tokens.access_token, { env })).status).toBe(200)
    const withBookmark = { env, headers: { 'X-D1-Bookmark': logout.headers.get('X-D1-Bookmark')! } }
    await expectProblem(await me(tokens.access_token, withBookmark), 401, 'unauthorized')
  })
})

describe('REPORT_D1_USAGE', () => {
  const usageOf = (response: Response) => {
    const header = response.headers.get('X-D1-Usage')
    expect(header).toMatch(/^queries=\d+; rows_read=\d+; rows_written=\d+; duration_ms=\d+\.\d\d$/)
    return Object.fromEntries(
      header!
        .split('; ')
        .map((pair) => pair.split('=') as [string, string])
        .map(([k, v]) => [k, Number(v)]),
    )
  }
  const reporting = { REPORT_D1_USAGE: 'true' }

  it('reports what each request cost D1 in queries, rows read and rows written', async () => {
    const { tokens } = await signedIn()
    const read = usageOf(await me(tokens.access_token, { env: reporting }))
    expect(read).toMatchObject({ queries: 1, rows_written: 0 })
    expect(read.rows_read).toBeGreaterThanOrEqual(1)
    expect(read.rows_read).toBeLessThanOrEqual(2)

    const { account } = await signup()
    const login = usageOf(await call('/users/login', { json: { username: account.username, password: account.password }, env: reporting }))
    expect(login.queries).toBeGreaterThanOrEqual(2)
    expect(login.rows_written).toBeGreaterThanOrEqual(2)
  })

  it('answers exactly as it does unmetered', async () => {
    const admin = await asAdmin()
    await signup()
    const plain = await adminCall(admin.token, '/users?limit=5')
    const metered = await adminCall(admin.token, '/users?limit=5', { env: reporting })
    expect(metered.status).toBe(200)
    expect(await metered.json()).toEqual(await plain.json())
    const profile = await me(admin.token, { env: reporting })
    expect(await profile.json()).toEqual(await (await me(admin.token)).json())
  })

  it('is off by default', async () => {
    const { tokens } = await signedIn()
    expect((await me(tokens.access_token)).headers.get('X-D1-Usage')).toBeNull()
  })
})
