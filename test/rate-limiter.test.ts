import { runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import type { AdmitRequest } from '../src/rate-limit/policy'
import { LOCK_AFTER_FAILURES, MAX_BACKOFF_SECONDS } from '../src/rate-limit/policy'

// The limiter's own rules, asked directly over RPC with a clock the test holds. Each test gets its
// own instance, so none shares a budget or a streak with another.
const T0 = Date.parse('2027-03-01T00:00:00Z')
let instances = 0
const freshLimiter = () => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`limiter-test-${++instances}`))

const budget = (key: string, limit: number, windowMs = 60_000) => ({ key, limit, windowMs })

const ask = (limiter: ReturnType<typeof freshLimiter>, request: Partial<AdmitRequest> & { now: number }) =>
  limiter.admit({ budgets: [budget('ip:a', 1_000_000)], freeFailures: 2, ...request })

describe('the RateLimiter Durable Object', () => {
  it("admits a full minute's IP budget at once, then refills it evenly", async () => {
    const limiter = freshLimiter()
    const three = [budget('ip:a', 3)]
    for (let i = 0; i < 3; i++) expect((await ask(limiter, { budgets: three, now: T0 })).allowed).toBe(true)
    expect(await ask(limiter, { budgets: three, now: T0 })).toEqual({ allowed: false, reason: 'budget', retryAfterSeconds: 20 })
    expect((await ask(limiter, { budgets: three, now: T0 + 20_000 })).allowed).toBe(true)
    expect((await ask(limiter, { budgets: [budget('ip:b', 3)], now: T0 })).allowed).toBe(true)
  })

  it('takes back a withdrawn attempt whole: its failure and the backoff it would have restarted', async () => {
    const limiter = freshLimiter()
    const attempt = (now: number) => ask(limiter, { loginKey: 'login:eve', now })
    await attempt(T0)
    await attempt(T0)
    const late = await attempt(T0 + 1000) // the third failure: the next must wait 2 s from T0 + 1000
    if (!late.allowed) throw new Error('should be admitted')
    const refused = await attempt(T0 + 3000) // admitted by the streak, then refused by its network
    if (!refused.allowed) throw new Error('should be admitted')
    await limiter.withdraw('login:eve', refused.at)
    // As if it never came: three failures, the wait still running from T0 + 1000.
    expect(await attempt(T0 + 3000)).toMatchObject({ allowed: true, failuresSoFar: 3 })
  })

  it('charges a request to every budget it names only when all of them allow it', async () => {
    const limiter = freshLimiter()
    const wide = budget('net48:x', 2)
    expect((await ask(limiter, { budgets: [budget('ip:1', 5), wide], now: T0 })).allowed).toBe(true)
    expect((await ask(limiter, { budgets: [budget('ip:2', 5), wide], now: T0 })).allowed).toBe(true)
    // The wide budget is spent: a third /64 in the same /48 is refused, and its own budget is not charged.
    expect(await ask(limiter, { budgets: [budget('ip:3', 1), wide], now: T0 })).toMatchObject({ allowed: false, reason: 'budget' })
    expect((await ask(limiter, { budgets: [budget('ip:3', 1)], now: T0 })).allowed).toBe(true)
  })

  it('counts each login attempt when admitted, then makes the next wait 2^(failures - free) seconds without counting it', async () => {
    const limiter = freshLimiter()
    const attempt = (now: number) => ask(limiter, { loginKey: 'login:ada', now })
    expect(await attempt(T0)).toMatchObject({ allowed: true, failuresSoFar: 0 })
    expect(await attempt(T0)).toMatchObject({ allowed: true, failuresSoFar: 1 })
    expect(await attempt(T0)).toEqual({ allowed: false, reason: 'backoff', retryAfterSeconds: 1 })
    expect(await attempt(T0 + 999)).toMatchObject({ allowed: false, reason: 'backoff' })
    expect(await attempt(T0 + 1000)).toMatchObject({ allowed: true, failuresSoFar: 2 })
    expect(await attempt(T0 + 1000)).toEqual({ allowed: false, reason: 'backoff', retryAfterSeconds: 2 })
  })

  it("ends a streak when the account's last success came after the streak's last attempt", async () => {
    const limiter = freshLimiter()
    const first = await ask(limiter, { loginKey: 'login:ada', now: T0 })
    const second = await ask(limiter, { loginKey: 'login:ada', now: T0 + 10 })
    if (!second.allowed || !first.allowed) throw new Error('both should be admitted')
    // The second attempt succeeded: the worker stored last_login_at no earlier than its `at`.
    expect(await ask(limiter, { loginKey: 'login:ada', lastSuccessAt: second.at, now: T0 + 20 })).toMatchObject({
      allowed: true,
      failuresSoFar: 0,
    })
  })

  it('orders attempts within one millisecond, so a success does not wipe out a failure admitted after it', async () => {
    const limiter = freshLimiter()
    const a = await ask(limiter, { loginKey: 'login:ada', now: T0 })
    if (!a.allowed) throw new Error('admitted')
    // A succeeded (last_login_at = a.at); B is admitted in the same millisecond and fails.
    const b = await ask(limiter, { loginKey: 'login:ada', lastSuccessAt: a.at, now: T0 })
    expect(b).toMatchObject({ allowed: true, failuresSoFar: 0 })
    if (!b.allowed) throw new Error('admitted')
    expect(b.at).toBeGreaterThan(a.at)
    // C, still in that millisecond, hands over the same last success: B's failure stands.
    expect(await ask(limiter, { loginKey: 'login:ada', lastSuccessAt: a.at, now: T0 })).toMatchObject({ allowed: true, failuresSoFar: 1 })
  })

  it(`locks a login after ${LOCK_AFTER_FAILURES} consecutive failures until resetLogin`, async () => {
    const limiter = freshLimiter()
    let now = T0
    for (let i = 0; i < LOCK_AFTER_FAILURES; i++) {
      expect((await ask(limiter, { loginKey: 'login:ada', now })).allowed).toBe(true)
      now += MAX_BACKOFF_SECONDS * 1000
    }
    expect(await ask(limiter, { loginKey: 'login:ada', now })).toEqual({
      allowed: false,
      reason: 'locked',
      retryAfterSeconds: MAX_BACKOFF_SECONDS,
    })
    // A success from before the streak does not lift the lock (a locked account admits no attempt
    // that could succeed); only resetLogin, an admin's act, does.
    expect(await ask(limiter, { loginKey: 'login:ada', lastSuccessAt: T0 - 1, now })).toMatchObject({ reason: 'locked' })
    await limiter.resetLogin('login:ada')
    expect(await ask(limiter, { loginKey: 'login:ada', now })).toMatchObject({ allowed: true, failuresSoFar: 0 })
  })

  it('stores a streak from its second counted attempt on, so an ordinary login writes nothing', async () => {
    const limiter = freshLimiter()
    const stored = () => runInDurableObject(limiter, (_instance, state) => state.storage.kv.get('streak:login:ada') ?? null)
    await ask(limiter, { loginKey: 'login:ada', now: T0 })
    expect(await stored()).toBeNull()
    await ask(limiter, { loginKey: 'login:ada', now: T0 + 1 })
    expect(await stored()).toMatchObject({ failures: 2 })
    await limiter.resetLogin('login:ada')
    expect(await stored()).toBeNull()
  })
})

describe("the limiter's daily forgetting", () => {
  it('forgets a name with no account a day after its last attempt, even locked, but keeps a locked account', async () => {
    const limiter = freshLimiter()
    let now = T0
    for (let i = 0; i < LOCK_AFTER_FAILURES; i++) {
      await ask(limiter, { loginKey: 'name:someone', now })
      await ask(limiter, { loginKey: 'account:ada', now })
      now += MAX_BACKOFF_SECONDS * 1000
    }
    expect(await ask(limiter, { loginKey: 'name:someone', now })).toMatchObject({ reason: 'locked' })
    expect(await limiter.forgetStaleStreaks(now + 23 * 3600_000)).toBe(0)
    expect(await limiter.forgetStaleStreaks(now + 25 * 3600_000)).toBe(1)
    expect(await ask(limiter, { loginKey: 'name:someone', now: now + 25 * 3600_000 })).toMatchObject({ allowed: true, failuresSoFar: 0 })
    expect(await ask(limiter, { loginKey: 'account:ada', now: now + 25 * 3600_000 })).toMatchObject({ reason: 'locked' })
  })

  it('forgets an account streak below the lock a day after its last attempt', async () => {
    const limiter = freshLimiter()
    await ask(limiter, { loginKey: 'account:bob', now: T0 })
    await ask(limiter, { loginKey: 'account:bob', now: T0 + 1 })
    expect(await limiter.forgetStaleStreaks(T0 + 25 * 3600_000)).toBe(1)
  })
})
