import { DurableObject } from 'cloudflare:workers'

/** The waits of the login backoff are capped at 15 minutes. */
export const MAX_BACKOFF_SECONDS = 15 * 60
/** After this many consecutive failures only an admin's enable lets the account log in again. */
export const LOCK_AFTER_FAILURES = 100
/** Failure counts below the lock are forgotten after a day without attempts. */
const FORGET_FAILURES_AFTER_MS = 24 * 60 * 60 * 1000
const WINDOW_MS = 60_000

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

/**
 * Counters that must hold across isolates: one instance, single-threaded, so each admission is
 * atomic, backed by its SQLite storage so a backoff survives eviction.
 *
 * The per-IP budget is GCRA (a token bucket kept as one timestamp per key): RATE_LIMIT_PER_IP
 * requests at once, refilled evenly over a minute. A login attempt is counted as a failure when
 * it is admitted, and a success takes it back; so simultaneous guesses cannot all pass the check
 * before their failures land, and a login needs one round trip here, not two.
 */
export class RateLimiter extends DurableObject<Env> {
  private admissions = 0

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS ip_budget (key TEXT PRIMARY KEY, tat INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS ip_budget_tat ON ip_budget (tat);
      CREATE TABLE IF NOT EXISTS login_failures (key TEXT PRIMARY KEY, failures INTEGER NOT NULL, last_at INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS login_failures_last_at ON login_failures (last_at);
    `)
  }

  admit(request: AdmitRequest): Admission {
    const sql = this.ctx.storage.sql
    if (++this.admissions % 200 === 0) this.forgetStale(request.now)

    // Per-IP budget (GCRA): the request is allowed while the theoretical arrival time stays
    // within one window of now.
    const interval = WINDOW_MS / request.perMinute
    const stored = sql.exec<{ tat: number }>('SELECT tat FROM ip_budget WHERE key = ?', request.ipKey).toArray()[0]
    const tat = Math.max(stored?.tat ?? 0, request.now)
    if (tat + interval - request.now > WINDOW_MS) {
      return { allowed: false, reason: 'ip', retryAfterSeconds: seconds(tat + interval - WINDOW_MS - request.now) }
    }
    sql.exec('INSERT INTO ip_budget (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat', request.ipKey, tat + interval)

    if (request.loginKey === undefined) return { allowed: true, failuresSoFar: 0 }
    const row = sql
      .exec<{ failures: number; last_at: number }>('SELECT failures, last_at FROM login_failures WHERE key = ?', request.loginKey)
      .toArray()[0]
    const failures = row?.failures ?? 0
    if (failures >= LOCK_AFTER_FAILURES) return { allowed: false, reason: 'locked', retryAfterSeconds: MAX_BACKOFF_SECONDS }
    if (row && failures >= request.freeFailures) {
      const waitMs = Math.min(2 ** (failures - request.freeFailures), MAX_BACKOFF_SECONDS) * 1000
      const nextAllowed = row.last_at + waitMs
      // An early attempt is refused without counting: the password is never checked.
      if (request.now < nextAllowed) return { allowed: false, reason: 'backoff', retryAfterSeconds: seconds(nextAllowed - request.now) }
    }
    sql.exec(
      'INSERT INTO login_failures (key, failures, last_at) VALUES (?, 1, ?) ON CONFLICT (key) DO UPDATE SET failures = failures + 1, last_at = excluded.last_at',
      request.loginKey,
      request.now,
    )
    return { allowed: true, failuresSoFar: failures }
  }

  /**
   * Ends a failure streak: after a successful login (its attempt was no failure after all), or when
   * an admin enables the account, which is the only thing that lifts a lock.
   */
  resetLogin(loginKey: string): void {
    this.ctx.storage.sql.exec('DELETE FROM login_failures WHERE key = ?', loginKey)
  }

  private forgetStale(now: number) {
    const sql = this.ctx.storage.sql
    sql.exec('DELETE FROM ip_budget WHERE tat < ?', now)
    sql.exec('DELETE FROM login_failures WHERE last_at < ? AND failures < ?', now - FORGET_FAILURES_AFTER_MS, LOCK_AFTER_FAILURES)
  }
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))
