import { env } from 'cloudflare:workers'
import { drizzle } from 'drizzle-orm/d1'
import { beforeAll, describe, expect, it } from 'vitest'
import * as schema from '../src/db/schema'
import { listUsers } from '../src/db/users'
import {
  adminCall,
  asAdmin,
  asModerator,
  call,
  expectProblem,
  failingFields,
  login,
  me,
  type PublicUser,
  refresh,
  signedIn,
  signup,
} from './helpers'

type AdminUser = PublicUser & { disabled: boolean; last_login_at: string | null }
type UserPage = { users: AdminUser[]; next_cursor: string | null }

let admin: Awaited<ReturnType<typeof asAdmin>>
let moderator: Awaited<ReturnType<typeof asModerator>>

beforeAll(async () => {
  admin = await asAdmin()
  moderator = await asModerator(admin)
})

async function listAll(token: string, query: string, limit: number): Promise<AdminUser[]> {
  const seen: AdminUser[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 1000; pages++) {
    const response = await adminCall(token, `/users?limit=${limit}&${query}${cursor ? `&cursor=${cursor}` : ''}`)
    expect(response.status, await response.clone().text()).toBe(200)
    const body = (await response.json()) as UserPage
    expect(body.users.length).toBeLessThanOrEqual(limit)
    seen.push(...body.users)
    if (!body.next_cursor) return seen
    cursor = body.next_cursor
  }
  throw new Error('paging did not end')
}

describe('the permission matrix, route by route', () => {
  type Who = 'nobody' | 'user' | 'moderator' | 'admin'
  const tokenOf = async (who: Who) =>
    who === 'nobody'
      ? undefined
      : who === 'user'
        ? (await signedIn()).tokens.access_token
        : who === 'moderator'
          ? moderator.token
          : admin.token

  const cases: { route: string; expected: Record<Who, number>; run: (token: string | undefined) => Promise<Response> }[] = [
    {
      route: 'GET /admin/users',
      expected: { nobody: 401, user: 403, moderator: 200, admin: 200 },
      run: (token) => call('/admin/users', { token }),
    },
    {
      route: 'GET /admin/users/{id}',
      expected: { nobody: 401, user: 403, moderator: 200, admin: 200 },
      run: async (token) => call(`/admin/users/${(await signup()).user.id}`, { token }),
    },
    {
      route: 'PATCH /admin/users/{id} disabling a user',
      expected: { nobody: 401, user: 403, moderator: 200, admin: 200 },
      run: async (token) => call(`/admin/users/${(await signup()).user.id}`, { method: 'PATCH', token, json: { disabled: true } }),
    },
    {
      route: 'PATCH /admin/users/{id} disabling a moderator',
      expected: { nobody: 401, user: 403, moderator: 403, admin: 200 },
      run: async (token) =>
        call(`/admin/users/${(await asModerator(admin)).user.id}`, { method: 'PATCH', token, json: { disabled: true } }),
    },
    {
      route: 'PATCH /admin/users/{id} changing a role',
      expected: { nobody: 401, user: 403, moderator: 403, admin: 200 },
      run: async (token) => call(`/admin/users/${(await signup()).user.id}`, { method: 'PATCH', token, json: { role: 'moderator' } }),
    },
    {
      route: 'DELETE /admin/users/{id}',
      expected: { nobody: 401, user: 403, moderator: 403, admin: 204 },
      run: async (token) => call(`/admin/users/${(await signup()).user.id}`, { method: 'DELETE', token }),
    },
    {
      route: 'DELETE /admin/users/{id}/sessions of a user',
      expected: { nobody: 401, user: 403, moderator: 204, admin: 204 },
      run: async (token) => call(`/admin/users/${(await signedIn()).user.id}/sessions`, { method: 'DELETE', token }),
    },
    {
      route: 'DELETE /admin/users/{id}/sessions of an admin',
      expected: { nobody: 401, user: 403, moderator: 403, admin: 204 },
      run: async (token) => call(`/admin/users/${(await asAdmin()).user.id}/sessions`, { method: 'DELETE', token }),
    },
    {
      route: 'GET /admin/audit',
      expected: { nobody: 401, user: 403, moderator: 403, admin: 200 },
      run: (token) => call('/admin/audit', { token }),
    },
  ]

  for (const { route, expected, run } of cases) {
    it(`${route}: ${Object.entries(expected)
      .map(([who, status]) => `${who} ${status}`)
      .join(', ')}`, async () => {
      for (const who of ['nobody', 'user', 'moderator', 'admin'] as Who[]) {
        const response = await run(await tokenOf(who))
        expect(response.status, `${who}: ${await response.clone().text()}`).toBe(expected[who])
        const code = { 401: 'unauthorized', 403: 'forbidden' }[response.status]
        if (code) await expectProblem(response, response.status, code)
      }
    })
  }
})

describe('listing users', () => {
  it('pages through many users oldest first, without duplicates or gaps', async () => {
    const tag = `pg${crypto.randomUUID().slice(0, 6)}`
    const created: PublicUser[] = []
    for (let i = 0; i < 23; i++) created.push((await signup({ username: `${tag}_${String(i).padStart(2, '0')}` })).user)
    const listed = await listAll(admin.token, `q=${tag}`, 5)
    expect(listed.map((user) => user.id)).toEqual(created.map((user) => user.id))
  })

  it('pages through the whole table the same way', async () => {
    const all = await listAll(moderator.token, '', 7)
    const ids = all.map((user) => user.id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(ids).toEqual([...ids].sort())
    const { count } = (await env.DB.prepare('SELECT count(*) AS count FROM users').first<{ count: number }>())!
    expect(ids.length).toBe(count)
  })

  it('answers with the admin view of each user and a null cursor on the last page', async () => {
    const { user, account } = await signup()
    await login(account)
    const body = (await (await adminCall(admin.token, `/users?q=${account.username}`)).json()) as UserPage
    expect(body.next_cursor).toBeNull()
    expect(body.users).toEqual([{ ...user, disabled: false, last_login_at: expect.any(String) }])
  })

  it('filters by a case-insensitive prefix of the username or the email', async () => {
    const tag = `Qq${crypto.randomUUID().slice(0, 6)}`
    const byName = await signup({ username: `${tag}_name` })
    const byEmail = await signup({ email: `${tag.toLowerCase()}.mail@example.com` })
    const listed = await listAll(admin.token, `q=${tag.toUpperCase()}`, 50)
    expect(listed.map((user) => user.id).sort()).toEqual([byName.user.id, byEmail.user.id].sort())
  })

  it('filters by role and by disabled', async () => {
    const { user } = await signup()
    await adminCall(admin.token, `/users/${user.id}`, { method: 'PATCH', json: { disabled: true } })
    const disabled = await listAll(admin.token, 'disabled=true', 50)
    expect(disabled.every((u) => u.disabled)).toBe(true)
    expect(disabled.map((u) => u.id)).toContain(user.id)
    const enabled = await listAll(admin.token, 'disabled=false', 50)
    expect(enabled.map((u) => u.id)).not.toContain(user.id)
    const moderators = await listAll(admin.token, 'role=moderator', 50)
    expect(moderators.length).toBeGreaterThan(0)
    expect(moderators.every((u) => u.role === 'moderator')).toBe(true)
  })

  it('rejects bad paging and filter parameters', async () => {
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=2.5', 'limit'],
      ['cursor=not-a-cursor', 'cursor'],
      ['role=king', 'role'],
      ['disabled=yes', 'disabled'],
    ] as const) {
      expect(await failingFields(await adminCall(admin.token, `/users?${query}`)), query).toEqual([field])
    }
  })

  it('serves the prefix search from the username and email indexes, and paging from the primary key', async () => {
    const db = drizzle(env.DB, { schema })
    const plan = async (query: { toSQL(): { sql: string; params: unknown[] } }) => {
      const { sql, params } = query.toSQL()
      const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        .bind(...params)
        .all<{ detail: string }>()
      return results.map((row) => row.detail).join('\n')
    }
    const search = await plan(listUsers(db, { limit: 51, prefix: 'ada' }))
    expect(search).toContain('users_username_normalized_unique')
    expect(search).toContain('users_email_unique')
    expect(search).not.toMatch(/SCAN users(?! USING)/)
    const deep = await plan(listUsers(db, { limit: 51, after: '01a209da-c6fd-7000-9c07-e28d81ebb572' }))
    expect(deep).toMatch(/SEARCH users USING INDEX sqlite_autoindex_users_1 \(id>\?\)/)
  })
})

describe('managing users', () => {
  it('shows one user, and 404 for an unknown id', async () => {
    const { user } = await signup()
    expect(((await (await adminCall(moderator.token, `/users/${user.id}`)).json()) as { user: AdminUser }).user).toMatchObject({
      id: user.id,
      disabled: false,
      last_login_at: null,
    })
    await expectProblem(await adminCall(admin.token, `/users/${crypto.randomUUID()}`), 404, 'not_found')
    await expectProblem(
      await adminCall(admin.token, `/users/${crypto.randomUUID()}`, { method: 'PATCH', json: { disabled: true } }),
      404,
      'not_found',
    )
    await expectProblem(await adminCall(admin.token, `/users/${crypto.randomUUID()}`, { method: 'DELETE' }), 404, 'not_found')
  })

  it('applies a role change on the next request, with the token the user already has', async () => {
    const { user, tokens } = await signedIn()
    await expectProblem(await call('/admin/users', { token: tokens.access_token }), 403, 'forbidden')
    await adminCall(admin.token, `/users/${user.id}`, { method: 'PATCH', json: { role: 'moderator' } })
    expect((await call('/admin/users', { token: tokens.access_token })).status).toBe(200)
    await adminCall(admin.token, `/users/${user.id}`, { method: 'PATCH', json: { role: 'user' } })
    await expectProblem(await call('/admin/users', { token: tokens.access_token }), 403, 'forbidden')
  })

  it('ends every session on disable, and login then answers 403 only with the right password', async () => {
    const { account, user, tokens } = await signedIn()
    const second = await login(account)
    const response = await adminCall(moderator.token, `/users/${user.id}`, { method: 'PATCH', json: { disabled: true } })
    expect(((await response.json()) as { user: AdminUser }).user.disabled).toBe(true)
    await expectProblem(await me(tokens.access_token), 401, 'unauthorized')
    await expectProblem(await refresh(second.refresh_token), 401, 'invalid_refresh_token')
    await expectProblem(await call('/users/login', { json: { ...account, password: 'wrong-password-wrong' } }), 401, 'invalid_credentials')
    await expectProblem(await call('/users/login', { json: account }), 403, 'account_disabled')

    await adminCall(moderator.token, `/users/${user.id}`, { method: 'PATCH', json: { disabled: false } })
    await login(account)
  })

  it('deletes a user with every session; the name becomes free', async () => {
    const { account, user, tokens } = await signedIn()
    expect((await adminCall(admin.token, `/users/${user.id}`, { method: 'DELETE' })).status).toBe(204)
    await expectProblem(await me(tokens.access_token), 401, 'unauthorized')
    await expectProblem(await adminCall(admin.token, `/users/${user.id}`), 404, 'not_found')
    await signup({ username: account.username, email: account.email })
  })

  it("revokes a user's sessions without disabling the account", async () => {
    const { account, user, tokens } = await signedIn()
    expect((await adminCall(moderator.token, `/users/${user.id}/sessions`, { method: 'DELETE' })).status).toBe(204)
    await expectProblem(await me(tokens.access_token), 401, 'unauthorized')
    await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token')
    await login(account)
  })

  it('keeps a moderator to user accounts and away from roles', async () => {
    const other = await asModerator(admin)
    await expectProblem(
      await adminCall(moderator.token, `/users/${other.user.id}`, { method: 'PATCH', json: { disabled: true } }),
      403,
      'forbidden',
    )
    await expectProblem(await adminCall(moderator.token, `/users/${admin.user.id}/sessions`, { method: 'DELETE' }), 403, 'forbidden')
    const { user } = await signup()
    await expectProblem(
      await adminCall(moderator.token, `/users/${user.id}`, { method: 'PATCH', json: { role: 'admin' } }),
      403,
      'forbidden',
    )
    expect((await me(other.token)).status).toBe(200)
  })

  it('validates the change', async () => {
    const { user } = await signup()
    expect(
      await failingFields(await adminCall(admin.token, `/users/${user.id}`, { method: 'PATCH', json: { role: 'root', disabled: 'yes' } })),
    ).toEqual(['disabled', 'role'])
  })
})
