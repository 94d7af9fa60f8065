import { DurableObject } from 'cloudflare:workers'
import { type Admission, type AdmitRequest, LOCK_AFTER_FAILURES, MAX_BACKOFF_SECONDS } from './policy'

/** Failure streaks below the lock are forgotten after a day without attempts. */
const FORGET_AFTER_MS = 24 * 60 * 60 * 1000
/** Above this many cached streaks the cache is dropped; storage still has them all. */
const MAX_CACHED_STREAKS = 50_000
const STREAK_PREFIX = 'streak:'

/**
 * `lastAt` is when the latest counted attempt was admitted (the backoff runs from it); `order`
 * is that attempt's `at`, kept after a success so later attempts still order after it.
 *
 * Why `order` and not just the clock: a success is never reported here; the worker writes it as
 * the account's last_auth_at, no earlier than the attempt's `at`, and the next admission compares
 * the two. Attempts in one millisecond (or under a frozen test clock) would tie, so every admitted
 * attempt gets an `at` strictly after the previous one's:
 *
 *   attempt A admitted    order = t          (counted as a failure when admitted)
 *   A succeeds            last_auth_at = t   (written by the worker with the session)
 *   attempt B admitted    last_auth_at ≥ order: A was no failure, the streak restarts at 0;
 *                         B gets order t + 1 even if the clock still says t
 *   B fails               nothing to report: B was already counted as a failure
 *   attempt C admitted    last_auth_at (t) < order (t + 1): B's failure stands, streak = 1
 */
type Streak = { failures: number; lastAt: number; order: number; previousLastAt?: number }

/**
 * Counters that must hold across isolates: one shard of them per instance (rate-limit/client.ts
 * chooses the shard of each key), single-threaded, and `admit` never awaits, so each admission is
 * atomic for the keys it names.
 *
 * Budgets are GCRA (a token bucket kept as one timestamp per key): the client network's
 * RATE_LIMIT_PER_IP_PER_MINUTE requests at once, refilled evenly over a minute (and an IPv6 /48's
 * wider one), an account's PROFILE_CHANGES_PER_HOUR over an hour. They live in memory only: an
 * eviction forfeits at most one window of a budget.
 *
 * A login attempt is counted as a failure when it is admitted, so simultaneous guesses cannot all
 * pass the check before their failures land. A success is not reported here: the worker records it
 * as the account's last_auth_at in D1, and hands that time to the account's next admission, which
 * ends the streak when the success came after its last attempt. So a login costs one round trip
 * here, whatever its outcome. A streak is written to storage, so a backoff or a lock survives
 * eviction, from its second counted attempt on: an ordinary login (counted, then ended by its own
 * success) costs no storage write at all, and an eviction can forget at most one failure of a streak.
 */
export class RateLimiter extends DurableObject<Env> {
  private readonly budgets = new Map<string, number>()
  /** A cache of stored streaks; null means "known to have none". */
  private readonly streaks = new Map<string, Streak | null>()
  private admissions = 0

  admit(request: AdmitRequest): Admission {
    if (++this.admissions % 500 === 0) this.forgetSpentBudgets(request.now)

    // Budgets (GCRA): allowed while each theoretical arrival time stays within its window of now;
    // charged only when every one allows, so a refused request costs none of them.
    const charges: [string, number][] = []
    for (const budget of request.budgets) {
      const interval = budget.windowMs / budget.limit
      const tat = Math.max(this.budgets.get(budget.key) ?? 0, request.now)
      if (tat + interval - request.now > budget.windowMs) {
        return { allowed: false, reason: 'budget', retryAfterSeconds: seconds(tat + interval - budget.windowMs - request.now) }
      }
      charges.push([budget.key, tat + interval])
    }
    for (const [key, tat] of charges) this.budgets.set(key, tat)

    if (request.loginKey === undefined) return { allowed: true, failuresSoFar: 0, at: request.now }
    let streak = this.streakOf(request.loginKey)
    if (streak && streak.failures > 0 && request.lastSuccessAt !== undefined && request.lastSuccessAt >= orderOf(streak)) {
      // A success came after the streak's last attempt: that attempt was no failure, and the
      // streak ended. Its time is kept, so an attempt in the same millisecond still counts.
      streak = { failures: 0, lastAt: streak.lastAt, order: Math.max(orderOf(streak), request.lastSuccessAt) }
    }
    const failures = streak?.failures ?? 0
    if (failures >= LOCK_AFTER_FAILURES) return { allowed: false, reason: 'locked', retryAfterSeconds: MAX_BACKOFF_SECONDS }
    if (streak && failures >= request.freeFailures) {
      const nextAllowed = streak.lastAt + Math.min(2 ** (failures - request.freeFailures), MAX_BACKOFF_SECONDS) * 1000
      // An early attempt is refused without counting: the password is never checked.
      if (request.now < nextAllowed) return { allowed: false, reason: 'backoff', retryAfterSeconds: seconds(nextAllowed - request.now) }
    }
    const at = Math.max(request.now, orderOf(streak) + 1)
    this.saveStreak(request.loginKey, { failures: failures + 1, lastAt: request.now, order: at, previousLastAt: streak?.lastAt })
    return { allowed: true, failuresSoFar: failures, at }
  }

  /**
   * Takes back the count of an attempt admitted at `at` that never ran (its network's budget,
   * asked in another shard, refused it): only while it is still the streak's latest attempt.
   */
  withdraw(loginKey: string, at: number): void {
    const streak = this.streakOf(loginKey)
    if (!streak || streak.order !== at || streak.failures === 0) return
    // The backoff runs from the attempt before it again: a refused request restarts no wait.
    this.saveStreak(loginKey, { ...streak, failures: streak.failures - 1, lastAt: streak.previousLastAt ?? streak.lastAt })
  }

  /** Ends a failure streak when an admin unlocks the account: the only thing that lifts a lock. */
  resetLogin(loginKey: string): void {
    this.saveStreak(loginKey, undefined)
  }

  /**
   * Forgets every streak whose last attempt was a day before `now`, except an account's lock,
   * which only an admin lifts. A name with no account keeps nothing past a day, locked or not:
   * there is no one to protect, and no one who could unlock it. Called by the daily upkeep.
   * Returns how many it forgot.
   */
  forgetStaleStreaks(now: number): number {
    const cutoff = now - FORGET_AFTER_MS
    let forgotten = 0
    for (const [key, streak] of this.ctx.storage.kv.list<Streak>({ prefix: STREAK_PREFIX })) {
      const loginKey = key.slice(STREAK_PREFIX.length)
      const lockedAccount = streak.failures >= LOCK_AFTER_FAILURES && loginKey.startsWith('account:')
      if (streak.lastAt < cutoff && !lockedAccount) {
        this.saveStreak(loginKey, undefined)
        forgotten++
      }
    }
    return forgotten
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
    if (isStored(streak)) this.ctx.storage.kv.put(key, streak)
    // Only a streak that reached storage (or one not in the cache, which may be there) is deleted.
    else if (previous === undefined || isStored(previous)) this.ctx.storage.kv.delete(key)
  }

  private forgetSpentBudgets(now: number) {
    for (const [key, tat] of this.budgets) if (tat < now) this.budgets.delete(key)
  }
}

const orderOf = (streak: Streak | undefined) => (streak ? streak.order : -Infinity)

/** Streaks are stored from their second counted attempt: see the class comment. */
const isStored = (streak: Streak | null | undefined): streak is Streak => !!streak && streak.failures >= 2

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))
