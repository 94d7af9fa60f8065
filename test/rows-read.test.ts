import { beforeAll, describe, expect, it } from 'vitest'
import { adminCall, asAdmin, call, login, me, signup } from './helpers'

/**
 * D1 bills rows read, so a page costs what it shows, not what the table holds. Each test reads
 * D1's own count for one request (REPORT_D1_USAGE) against a table far larger than the page.
 */
const reporting = { REPORT_D1_USAGE: 'true' }
const PAGE = 10
const TABLE = 120
/** The authenticated read (session and user) every admin request makes before its page. */
const AUTH_ROWS = 2
/** A page query reads its rows plus one, to know whether there is a next page. */
const PAGE_ROWS = PAGE + 1
/** D1 also counts the index entry that ends a range scan. */
const RANGE_END = 1
const BUDGET = AUTH_ROWS + PAGE_ROWS + RANGE_END

async function rowsRead(response: Response): Promise<number> {
  expect(response.status, await response.clone().text()).toBe(200)
  const header = response.headers.get('X-D1-Usage') ?? ''
  return Number(/rows_read=(\d+)/.exec(header)?.[1] ?? NaN)
}

let admin: Awaited<ReturnType<typeof asAdmin>>
let disabledId: string

beforeAll(async () => {
  admin = await asAdmin()
  for (let i = 0; i < TABLE; i++) await signup({ username: `reader_${String(i).padStart(3, '0')}` })
  const { user } = await signup({ username: 'zz_the_disabled_one' })
  disabledId = user.id
  const disabling = await adminCall(admin.token, `/users/${disabledId}`, { method: 'PATCH', json: { disabled: true } })
  expect(disabling.status).toBe(200)
})

describe('rows read per page', () => {
  it('reads one page of users, first or deep', async () => {
    const first = await adminCall(admin.token, `/users?limit=${PAGE}`, { env: reporting })
    expect(await rowsRead(first.clone())).toBeLessThanOrEqual(BUDGET)
    let cursor = ((await first.json()) as { next_cursor: string }).next_cursor
    for (let i = 0; i < 8; i++) {
      const next = await adminCall(admin.token, `/users?limit=${PAGE}&cursor=${cursor}`, { env: reporting })
      cursor = ((await next.clone().json()) as { next_cursor: string }).next_cursor
      expect(await rowsRead(next)).toBeLessThanOrEqual(BUDGET)
    }
  })

  it('reads only the admins when filtering by role', async () => {
    expect(await rowsRead(await adminCall(admin.token, `/users?limit=${PAGE}&role=admin`, { env: reporting }))).toBeLessThanOrEqual(BUDGET)
  })

  it('reads only disabled accounts when filtering by disabled', async () => {
    const response = await adminCall(admin.token, `/users?limit=${PAGE}&disabled=true`, { env: reporting })
    expect(await rowsRead(response)).toBeLessThanOrEqual(BUDGET)
  })

  it('reads only the matches of a name prefix', async () => {
    const response = await adminCall(admin.token, `/users?limit=${PAGE}&q=zz_`, { env: reporting })
    expect(await rowsRead(response)).toBeLessThanOrEqual(BUDGET)
  })

  it("reads only one user's audit events when filtering by user", async () => {
    const response = await adminCall(admin.token, `/audit?limit=${PAGE}&user_id=${disabledId}`, { env: reporting })
    expect(await rowsRead(response)).toBeLessThanOrEqual(BUDGET)
  })

  it("reads the same rows for a page of a user's audit events however long their history", async () => {
    const { account, user } = await signup()
    const pageOfEvents = async () => rowsRead(await adminCall(admin.token, `/audit?limit=${PAGE}&user_id=${user.id}`, { env: reporting }))
    for (let i = 0; i < 2 * PAGE; i++) await login(account)
    const shorter = await pageOfEvents()
    for (let i = 0; i < 2 * PAGE; i++) await login(account)
    expect(await pageOfEvents()).toBe(shorter)
    // A fixed multiple of the page: the newest page's ids from each of the two indexes (actor,
    // target), their union, and the page's rows by primary key.
    expect(shorter).toBeLessThanOrEqual(AUTH_ROWS + 6 * PAGE_ROWS)
  })

  it('reads only one action when filtering the audit log by action', async () => {
    const response = await adminCall(admin.token, `/audit?limit=${PAGE}&action=admin.user_disabled`, { env: reporting })
    expect(await rowsRead(response)).toBeLessThanOrEqual(BUDGET)
  })

  it('reads one page of the whole audit log', async () => {
    expect(await rowsRead(await adminCall(admin.token, `/audit?limit=${PAGE}`, { env: reporting }))).toBeLessThanOrEqual(BUDGET)
  })

  it("reads one user's own sessions", async () => {
    const response = await call('/users/me/sessions', { token: admin.token, env: reporting })
    const { sessions } = (await response.clone().json()) as { sessions: unknown[] }
    // Each session found through the user's index: its index entry and its row.
    expect(await rowsRead(response)).toBeLessThanOrEqual(AUTH_ROWS + 2 * sessions.length + RANGE_END)
    expect(await rowsRead(await me(admin.token, { env: reporting }))).toBe(AUTH_ROWS)
  })
})
