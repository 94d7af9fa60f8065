import { DurableObject } from 'cloudflare:workers'

/** The waits of the login backoff are capped at 15 minutes. */
export const MAX_BACKOFF_SECONDS = 15 * 60
/** After this many consecutive failures only an admin's enable lets the account log in again. */
export const LOCK_AFTER_FAILURES = 100
/** Failure streaks below the lock are forgotten after a day without attempts. */
const FORGET_AFTER_MS = 24 * 60 * 60 * 1000
const WINDOW_MS = 60_000
/** Above this many cached streaks the cache is dropped; storage still has them all. */
const MAX_CACHED_STREAKS = 50_000
const STREAK_PREFIX = 'streak:'

export type AdmitRequest = {
  /** Hashed client address: every unauthenticated POST spends from its budget. */
  ipKey: string
  /** Hashed account (or login identifier) key, for login attempts only. */
  loginKey?: string
  /** Milliseconds, from the worker's clock, so the caller (and a test) controls time. */
  now: number
  perMinute: number
  freeFailures: number
}

export type Admission =
  | { allowed: true; failuresSoFar: number }
  | { allowed: false; retryAfterSeconds: number; reason: 'ip' | 'backoff' | 'locked' }

type Streak = { failures: number; lastAt: number }

/**
 * Counters that must hold across isolates: one instance, single-threaded, and `admit` never
 * awaits, so each admission is atomic.
 *
 * The per-IP budget is GCRA (a token bucket kept as one timestamp per key): RATE_LIMIT_PER_IP
 * requests at once, refilled evenly over a minute. It lives in memory only: it spans a minute, so
 * an eviction forfeits at most a minute's budget.
 *
 * A login attempt is counted as a failure when it is admitted, and a success takes it back; so
 * simultaneous guesses cannot all pass the check before their failures land, and a login needs one
 * round trip here, not two. A streak is written to storage, so a backoff or a lock survives
 * eviction, from its second counted attempt on: an ordinary login (counted, then forgiven) costs no
 * storage write at all, and an eviction can forget at most one failure of a streak.
 */
export class RateLimiter extends DurableObject<Env> {
  private readonly budgets = new Map<string, number>()
  /** A cache of stored streaks; null means "known to have none". */
  private readonly streaks = new Map<string, Streak | null>()
  private admissions = 0

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    void ctx.blockConcurrencyWhile(async () => {
      if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now() + FORGET_AFTER_MS)
    })
  }

  admit(request: AdmitRequest): Admission {
    if (++this.admissions % 500 === 0) this.forgetSpentBudgets(request.now)

    // Per-IP budget (GCRA): allowed while the theoretical arrival time stays within a window of now.
    const interval = WINDOW_MS / request.perMinute
    const tat = Math.max(this.budgets.get(request.ipKey) ?? 0, request.now)
    if (tat + interval - request.now > WINDOW_MS) {
      return { allowed: false, reason: 'ip', retryAfterSeconds: seconds(tat + interval - WINDOW_MS - request.now) }
    }
    this.budgets.set(request.ipKey, tat + interval)

    if (request.loginKey === undefined) return { allowed: true, failuresSoFar: 0 }
    const streak = this.streakOf(request.loginKey)
    const failures = streak?.failures ?? 0
    if (failures >= LOCK_AFTER_FAILURES) return { allowed: false, reason: 'locked', retryAfterSeconds: MAX_BACKOFF_SECONDS }
    if (streak && failures >= request.freeFailures) {
      const nextAllowed = streak.lastAt + Math.min(2 ** (failures - request.freeFailures), MAX_BACKOFF_SECONDS) * 1000
      // An early attempt is refused without counting: the password is never checked.
      if (request.now < nextAllowed) return { allowed: false, reason: 'backoff', retryAfterSeconds: seconds(nextAllowed - request.now) }
    }
    this.saveStreak(request.loginKey, { failures: failures + 1, lastAt: request.now })
    return { allowed: true, failuresSoFar: failures }
  }

  /**
   * Ends a failure streak: after a successful login (its attempt was no failure after all), or when
   * an admin enables the account, which is the only thing that lifts a lock.
   */
  resetLogin(loginKey: string): void {
    this.saveStreak(loginKey, undefined)
  }

  /** Daily: forgets streaks that stopped a day ago and never reached the lock. */
  override async alarm(): Promise<void> {
    const cutoff = Date.now() - FORGET_AFTER_MS
    for (const [key, streak] of this.ctx.storage.kv.list<Streak>({ prefix: STREAK_PREFIX })) {
      if (streak.lastAt < cutoff && streak.failures < LOCK_AFTER_FAILURES) this.saveStreak(key.slice(STREAK_PREFIX.length), undefined)
    }
    await this.ctx.storage.setAlarm(Date.now() + FORGET_AFTER_MS)
  }

  private streakOf(loginKey: string): Streak | undefined {
    const cached = this.streaks.get(loginKey)
    if (cached !== undefined) return cached ?? undefined
    const stored = this.ctx.storage.kv.get<Streak>(STREAK_PREFIX + loginKey)
    if (this.streaks.size >= MAX_CACHED_STREAKS) this.streaks.clear()
    this.streaks.set(loginKey, stored ?? null)
    return stored
  }

  private saveStreak(loginKey: string, streak: Streak | undefined) {
    const previous = this.streaks.get(loginKey)
    this.streaks.set(loginKey, streak ?? null)
    const key = STREAK_PREFIX + loginKey
    if (streak && streak.failures >= 2) this.ctx.storage.kv.put(key, streak)
    // Only a streak that reached storage (or one not in the cache, which may be there) is deleted.
    else if (!streak && (previous === undefined || (previous && previous.failures >= 2))) this.ctx.storage.kv.delete(key)
  }

  private forgetSpentBudgets(now: number) {
    for (const [key, tat] of this.budgets) if (tat < now) this.budgets.delete(key)
  }
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))
