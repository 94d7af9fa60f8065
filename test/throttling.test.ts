import { env } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  adminCall,
  asAdmin,
  call,
  deliver,
  evictLimiters,
  expectProblem,
  freshIp,
  limiterStorageKeys,
  linkIn,
  login,
  mailRig,
  newAccount,
  signup,
} from './helpers'

// Low limits through configuration, as an operator would set them with --var.
const LOW = { RATE_LIMIT_PER_IP_PER_MINUTE: '3', LOGIN_FREE_FAILURES: '2' }
const GENEROUS = { RATE_LIMIT_PER_IP_PER_MINUTE: '100000', LOGIN_FREE_FAILURES: '2' }

let now = Date.parse('2027-01-01T00:00:00Z')
function advance(seconds: number) {
  now += seconds * 1000
  vi.setSystemTime(now)
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  advance(3600) // each test starts an hour later, past every earlier window
})
afterEach(() => {
  vi.useRealTimers()
})

function attempt(username: string, password: string, env: Record<string, string> = GENEROUS, ip = freshIp()) {
  return call('/users/login', { json: { username, password }, env, headers: { 'CF-Connecting-IP': ip } })
}

async function expectThrottled(response: Response, retryAfter?: number) {
  await expectProblem(response, 429, 'rate_limited')
  const header = Number(response.headers.get('Retry-After'))
  expect(header).toBeGreaterThanOrEqual(1)
  if (retryAfter !== undefined) expect(header).toBe(retryAfter)
  return header
}

describe('per-IP budget for unauthenticated POSTs', () => {
  it('shares RATE_LIMIT_PER_IP_PER_MINUTE across signup, login and refresh, then answers 429 with Retry-After', async () => {
    const ip = freshIp()
    const headers = { 'CF-Connecting-IP': ip }
    expect((await call('/users/signup', { json: newAccount(), env: LOW, headers })).status).toBe(201)
    expect(
      (await call('/users/login', { json: { username: 'someone', password: 'something-long-enough' }, env: LOW, headers })).status,
    ).toBe(401)
    expect((await call('/users/refresh', { json: { refresh_token: 'nope' }, env: LOW, headers })).status).toBe(401)
    const retryAfter = await expectThrottled(await call('/users/signup', { json: newAccount(), env: LOW, headers }))
    expect(retryAfter).toBe(20) // one request back every 60/3 seconds
  })

  it('counts requests that fail validation too', async () => {
    const headers = { 'CF-Connecting-IP': freshIp() }
    for (let i = 0; i < 3; i++) expect((await call('/users/signup', { json: {}, env: LOW, headers })).status).toBe(400)
    await expectThrottled(await call('/users/signup', { json: {}, env: LOW, headers }))
  })

  it('refills over the minute', async () => {
    const headers = { 'CF-Connecting-IP': freshIp() }
    for (let i = 0; i < 3; i++) await call('/users/refresh', { json: { refresh_token: 'x' }, env: LOW, headers })
    const retryAfter = await expectThrottled(await call('/users/refresh', { json: { refresh_token: 'x' }, env: LOW, headers }))
    advance(retryAfter - 1)
    await expectThrottled(await call('/users/refresh', { json: { refresh_token: 'x' }, env: LOW, headers }))
    advance(1)
    expect((await call('/users/refresh', { json: { refresh_token: 'x' }, env: LOW, headers })).status).toBe(401)
  })

  it('keeps one address’s budget apart from another’s, and leaves authenticated requests alone', async () => {
    const busy = { 'CF-Connecting-IP': freshIp() }
    for (let i = 0; i < 4; i++) await call('/users/refresh', { json: { refresh_token: 'x' }, env: LOW, headers: busy })
    await expectThrottled(await call('/users/refresh', { json: { refresh_token: 'x' }, env: LOW, headers: busy }))
    expect((await call('/users/refresh', { json: { refresh_token: 'x' }, env: LOW })).status).toBe(401)

    const { account } = await signup()
    const { access_token } = (await (await call('/users/login', { json: account })).json()) as { access_token: string }
    for (let i = 0; i < 5; i++) expect((await call('/users/me', { token: access_token, env: LOW, headers: busy })).status).toBe(200)
  })
})

describe('login backoff per account', () => {
  it('makes each attempt after LOGIN_FREE_FAILURES failures wait 2^(failures - free) seconds', async () => {
    const { account } = await signup()
    for (let i = 0; i < 2; i++) expect((await attempt(account.username, 'wrong-password-here')).status).toBe(401)
    await expectThrottled(await attempt(account.username, 'wrong-password-here'), 1)
    advance(1)
    expect((await attempt(account.username, 'wrong-password-here')).status).toBe(401) // failures: 3
    await expectThrottled(await attempt(account.username, 'wrong-password-here'), 2)
    advance(2)
    expect((await attempt(account.username, 'wrong-password-here')).status).toBe(401) // failures: 4
    await expectThrottled(await attempt(account.username, 'wrong-password-here'), 4)
  })

  it('refuses an early attempt without checking the password, even the right one', async () => {
    const { account } = await signup()
    for (let i = 0; i < 2; i++) await attempt(account.username, 'wrong-password-here')
    await expectThrottled(await attempt(account.username, account.password))
    advance(1)
    expect((await attempt(account.username, account.password)).status).toBe(200)
  })

  it('resets the count on success', async () => {
    const { account } = await signup()
    for (let i = 0; i < 2; i++) await attempt(account.username, 'wrong-password-here')
    advance(1)
    expect((await attempt(account.username, account.password)).status).toBe(200)
    for (let i = 0; i < 2; i++) expect((await attempt(account.username, 'wrong-password-here')).status).toBe(401)
    await expectThrottled(await attempt(account.username, 'wrong-password-here'))
  })

  it('still ends the streak at a success when the limiter was evicted in between', async () => {
    const { account } = await signup()
    for (let i = 0; i < 2; i++) await attempt(account.username, 'wrong-password-here')
    advance(1)
    expect((await attempt(account.username, account.password)).status).toBe(200)
    // The success is known to the limiter only through the account's last_login_at.
    await evictLimiters()
    for (let i = 0; i < 2; i++) expect((await attempt(account.username, 'wrong-password-here')).status).toBe(401)
    await expectThrottled(await attempt(account.username, 'wrong-password-here'))
  })

  it('keeps a backoff when the limiter is evicted from memory', async () => {
    const { account } = await signup()
    for (let i = 0; i < 2; i++) await attempt(account.username, 'wrong-password-here')
    await expectThrottled(await attempt(account.username, 'wrong-password-here'), 1)
    await evictLimiters()
    await expectThrottled(await attempt(account.username, 'wrong-password-here'), 1)
  })

  it('counts the username and the email of an account as one', async () => {
    const { account } = await signup()
    expect((await attempt(account.username, 'wrong-password-here')).status).toBe(401)
    expect((await attempt(account.email.toUpperCase(), 'wrong-password-here')).status).toBe(401)
    await expectThrottled(await attempt(account.username.toUpperCase(), 'wrong-password-here'))
    await expectThrottled(await attempt(account.email, account.password))
  })

  it('throttles an identifier with no account the same way, byte for byte', async () => {
    const { account } = await signup()
    const ghost = `ghost_${crypto.randomUUID().slice(0, 8)}`
    for (let i = 0; i < 2; i++) {
      await attempt(account.username, 'wrong-password-here')
      await attempt(ghost, 'wrong-password-here')
    }
    const headers = { 'X-Request-Id': 'same-id', 'CF-Connecting-IP': '198.51.100.9' }
    const known = await call('/users/login', { json: { username: account.username, password: 'x-x-x-x-x' }, env: GENEROUS, headers })
    const unknown = await call('/users/login', { json: { username: ghost, password: 'x-x-x-x-x' }, env: GENEROUS, headers })
    expect(known.status).toBe(429)
    expect(await unknown.text()).toBe(await known.text())
    expect(unknown.headers.get('Retry-After')).toBe(known.headers.get('Retry-After'))
  })

  it('applies to attempts from many addresses at once (credential stuffing)', async () => {
    const { account } = await signup()
    const responses = await Promise.all(Array.from({ length: 10 }, () => attempt(account.username, 'wrong-password-here')))
    const statuses = responses.map((response) => response.status)
    // Every attempt is counted as it is admitted, so parallel guesses cannot all slip through.
    expect(statuses.filter((status) => status === 401)).toHaveLength(2)
    expect(statuses.filter((status) => status === 429)).toHaveLength(8)
  })

  it('caps the wait at 15 minutes', async () => {
    const { account } = await signup()
    let last = 0
    for (let i = 0; i < 14; i++) {
      const response = await attempt(account.username, 'wrong-password-here')
      if (response.status === 429) {
        last = await expectThrottled(response)
        expect(last).toBeLessThanOrEqual(900)
        advance(last)
        expect((await attempt(account.username, 'wrong-password-here')).status).toBe(401)
      }
    }
    expect(last).toBe(900)
  })

  it('locks the login after 100 consecutive failures until an admin unlocks it; enabling does not, and says nothing', {
    timeout: 30_000,
  }, async () => {
    const { account, user } = await signup()
    const manyFree = { RATE_LIMIT_PER_IP_PER_MINUTE: '100000', LOGIN_FREE_FAILURES: '99' }
    for (let i = 0; i < 99; i++) expect((await attempt(account.username, 'wrong-password-here', manyFree)).status).toBe(401)
    advance(1)
    expect((await attempt(account.username, 'wrong-password-here', manyFree)).status).toBe(401) // the 100th
    advance(86_400 * 3)
    await expectThrottled(await attempt(account.username, account.password, manyFree), 900)

    const admin = await asAdmin()
    const auditOf = async () =>
      ((await (await adminCall(admin.token, `/audit?user_id=${user.id}`)).json()) as { events: { action: string }[] }).events.map(
        (e) => e.action,
      )
    const before = await auditOf()
    expect((await adminCall(admin.token, `/users/${user.id}`, { method: 'PATCH', json: { disabled: false } })).status).toBe(200)
    await expectThrottled(await attempt(account.username, account.password, manyFree), 900)
    expect(await auditOf()).toEqual(before)

    expect((await adminCall(admin.token, `/users/${user.id}/unlock`, { method: 'POST' })).status).toBe(204)
    expect((await auditOf())[0]).toBe('admin.login_unlocked')
    expect((await attempt(account.username, account.password, manyFree)).status).toBe(200)
  })

  it('lets a moderator unlock a user account but not an admin one', async () => {
    const admin = await asAdmin()
    const moderator = await signup()
    await adminCall(admin.token, `/users/${moderator.user.id}`, { method: 'PATCH', json: { role: 'moderator' } })
    const { access_token } = await login(moderator.account)
    const { user } = await signup()
    expect((await adminCall(access_token, `/users/${user.id}/unlock`, { method: 'POST' })).status).toBe(204)
    await expectProblem(await adminCall(access_token, `/users/${admin.user.id}/unlock`, { method: 'POST' }), 403, 'forbidden')
  })

  it('does no hash work for a throttled attempt: no failed login is recorded for it', async () => {
    const { account, user } = await signup()
    const admin = await asAdmin()
    for (let i = 0; i < 2; i++) await attempt(account.username, 'wrong-password-here')
    for (let i = 0; i < 3; i++) await expectThrottled(await attempt(account.username, 'wrong-password-here'))
    const response = await adminCall(admin.token, `/audit?action=user.login_failed&user_id=${user.id}`)
    const { events } = (await response.json()) as { events: unknown[] }
    // Two checked passwords, two records; the three throttled attempts never reached the check.
    expect(events).toHaveLength(2)
  })
})

describe('re-authentication', () => {
  const changePassword = (token: string, current: string, env: Record<string, string> = GENEROUS) =>
    call('/users/me/password', { token, json: { current_password: current, new_password: 'a-brand-new-passphrase-9' }, env })

  it('shares the login backoff: wrong current passwords are audited, then answered 429 without a check', async () => {
    const { account, user } = await signup()
    const { access_token } = await login(account)
    await expectProblem(await changePassword(access_token, 'not-my-password-1'), 403, 'invalid_password')
    await expectProblem(
      await call('/users/me', { method: 'DELETE', token: access_token, json: { password: 'not-my-password-2' }, env: GENEROUS }),
      403,
      'invalid_password',
    )
    await expectThrottled(await changePassword(access_token, account.password), 1)
    // The same streak as login: the account's login is backing off too.
    await expectThrottled(await attempt(account.username, account.password))

    const admin = await asAdmin()
    const { events } = (await (await adminCall(admin.token, `/audit?action=user.reauth_failed&user_id=${user.id}`)).json()) as {
      events: { details: { purpose: string } }[]
    }
    expect(events.map((e) => e.details.purpose)).toEqual(['account_deletion', 'password_change'])
    advance(2)
    expect((await changePassword(access_token, account.password)).status).toBe(204)
  })

  it('ends the streak when the current password is right, as a login does', async () => {
    const { account } = await signup()
    const { access_token } = await login(account)
    await expectProblem(await changePassword(access_token, 'not-my-password-1'), 403, 'invalid_password')
    expect((await changePassword(access_token, account.password)).status).toBe(204)
    // Two failures in a row would back off; the success in between ended the streak.
    await expectProblem(await attempt(account.username, 'still-not-it-at-all'), 401, 'invalid_credentials')
    await expectProblem(await attempt(account.username, 'still-not-it-either'), 401, 'invalid_credentials')
  })
})

describe('IP budgets by network', () => {
  it('budgets an IPv6 client by its /64, and an IPv4 one by its address', async () => {
    const spend = (ip: string) =>
      call('/users/refresh', { json: { refresh_token: 'nothing' }, env: LOW, headers: { 'CF-Connecting-IP': ip } })
    const prefix = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:1`
    for (const host of ['::1', '::2', ':0:0:0:ffff']) expect((await spend(`${prefix}${host}`)).status).toBe(401)
    await expectThrottled(await spend(`${prefix}:abcd::99`))
    // Written out in full, or in capitals, it is the same network.
    await expectThrottled(await spend(`${prefix.toUpperCase()}:0000:0000:0000:0007`))
    expect((await spend(`${prefix.replace(/:1$/, ':2')}::1`)).status).toBe(401)
    const v4 = `203.0.113.${Math.floor(Math.random() * 250)}`
    for (let i = 0; i < 3; i++) expect((await spend(v4)).status).toBe(401)
    await expectThrottled(await spend(`::ffff:${v4}`))
  })
})

describe('IPv6 /48 budgets', () => {
  it('gives a /48 eight times one /64’s budget, so rotating through its /64s does not multiply the budget', async () => {
    const spend = (ip: string) =>
      call('/users/refresh', { json: { refresh_token: 'nothing' }, env: LOW, headers: { 'CF-Connecting-IP': ip } })
    const site = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}`
    for (let subnet = 1; subnet <= 8; subnet++)
      for (let i = 0; i < 3; i++) expect((await spend(`${site}:${subnet}::${i + 1}`)).status).toBe(401)
    // A ninth /64 of the same /48, with its own budget untouched, meets the /48's.
    await expectThrottled(await spend(`${site}:9::1`))
    expect((await spend(`2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}:9::1`)).status).toBe(401)
  })
})

describe('the limiter is spread over many objects', () => {
  it('keeps the streaks of many accounts in many shards, each account in one', async () => {
    const before = new Set(await limiterStorageKeys('streak:account:'))
    const accounts = await Promise.all(Array.from({ length: 16 }, () => signup()))
    for (const { account } of accounts) for (let i = 0; i < 2; i++) await attempt(account.username, 'wrong-password-here')
    const { allLimiters } = await import('../src/rate-limit/client')
    const { runInDurableObject } = await import('cloudflare:test')
    const perShard = await Promise.all(
      allLimiters(env.RATE_LIMITER).map((limiter) =>
        runInDurableObject(
          limiter,
          (_i, state) => [...state.storage.kv.list({ prefix: 'streak:account:' })].filter(([key]) => !before.has(key)).length,
        ),
      ),
    )
    expect(perShard.reduce((sum, n) => sum + n, 0)).toBe(16)
    expect(perShard.filter((n) => n > 0).length).toBeGreaterThanOrEqual(8)
  })

  it('never counts an attempt its network refused against the account', async () => {
    const { account } = await signup()
    const ip = freshIp()
    const tight = { RATE_LIMIT_PER_IP_PER_MINUTE: '1', LOGIN_FREE_FAILURES: '2' }
    expect((await attempt(account.username, 'wrong-password-here', tight, ip)).status).toBe(401)
    for (let i = 0; i < 5; i++) await expectThrottled(await attempt(account.username, 'wrong-password-here', tight, ip))
    // One failure counted, not six: from another network the account still has a free attempt.
    expect((await attempt(account.username, 'wrong-password-here', GENEROUS)).status).toBe(401)
    await expectThrottled(await attempt(account.username, 'wrong-password-here', GENEROUS))
  })
})

describe('the limiter forgets what it no longer needs', () => {
  const streakKeys = () => limiterStorageKeys('streak:account:')

  it('drops a deleted account’s failure streak with the account', async () => {
    const { account } = await signup()
    const before = new Set(await streakKeys())
    for (let i = 0; i < 2; i++) await attempt(account.username, 'wrong-password-here')
    expect((await streakKeys()).filter((key) => !before.has(key))).toHaveLength(1)
    advance(10)
    const tokens = await login(account, { env: GENEROUS })
    expect((await call('/users/me', { method: 'DELETE', token: tokens.access_token, json: { password: account.password } })).status).toBe(
      204,
    )
    expect((await streakKeys()).filter((key) => !before.has(key))).toHaveLength(0)
  })

  it('ends the backoff with a completed password reset: the mailbox is a proof', async () => {
    const rig = mailRig()
    const account = newAccount()
    await call('/users/signup', { json: account, env: rig.env })
    for (let i = 0; i < 4; i++) await attempt(account.username, 'wrong-password-here')
    await expectThrottled(await attempt(account.username, account.password))
    await call('/users/password/forgot', { json: { email: account.email }, env: rig.env })
    await deliver(rig.jobs.splice(0), rig)
    const { token } = linkIn(rig.sent.at(-1))
    const newPassword = 'quiet-meadow-lighthouse-42'
    expect((await call('/users/password/reset', { json: { token, new_password: newPassword } })).status).toBe(204)
    expect((await attempt(account.username, newPassword)).status).toBe(200)
  })
})

describe("the limiter's names for accounts and addresses", () => {
  it('are HMACs under a key derived from a configured secret, not hashes anyone could recompute', async () => {
    const { account, user } = await signup()
    const streakKeys = () => limiterStorageKeys('streak:account:')
    const before = new Set(await streakKeys())
    for (let i = 0; i < 2; i++) await attempt(account.username, 'wrong-password-here')
    const added = (await streakKeys()).filter((key) => !before.has(key))
    expect(added).toHaveLength(1)
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`account:${user.id}`)))
    const unsalted = btoa(String.fromCharCode(...digest.subarray(0, 16)))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '')
    expect(added[0]).not.toContain(unsalted)
    expect(added[0]).toMatch(/^streak:account:[A-Za-z0-9_-]{22}$/)
  })
})
