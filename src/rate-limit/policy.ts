/**
 * The limiter's rules and the shape of its answers, apart from the Durable Object itself (which
 * only the worker runtime can load), so the sign-in layer and Node scripts can read them.
 */

/** The waits of the login backoff are capped at 15 minutes. */
export const MAX_BACKOFF_SECONDS = 15 * 60
/** After this many consecutive failures only an admin's unlock (POST /admin/users/{id}/unlock) lets the account log in again. */
export const LOCK_AFTER_FAILURES = 100
/**
 * A budget a request spends from: `limit` requests at once, refilled evenly over `windowMs`
 * (GCRA). The client's network (per minute), an IPv6 client's wider /48 (several times that), an
 * account's profile changes (per hour).
 */
export type Budget = { key: string; limit: number; windowMs: number }

/** An IPv6 /48 holds 65,536 /64s; it gets this many times one /64's budget, beside each /64's own. */
export const WIDE_NETWORK_FACTOR = 8

export type AdmitRequest = {
  /** Every budget the request spends from (hashed keys): all must allow it, then each is charged. */
  budgets: Budget[]
  /** Hashed account (or login identifier) key, for login attempts only. */
  loginKey?: string
  /**
   * When someone last proved who they are on the account (its last_auth_at), in milliseconds: a
   * streak whose every attempt was admitted at or before it ended with that success.
   */
  lastSuccessAt?: number
  /** Milliseconds, from the worker's clock, so the caller (and a test) controls time. */
  now: number
  freeFailures: number
}

export type Admission =
  /**
   * `at` orders the attempt among its account's attempts: the admission time, or 1 ms after the
   * previous attempt when the clock has not moved. A success is recorded no earlier than `at`.
   */
  | { allowed: true; failuresSoFar: number; at: number }
  | { allowed: false; retryAfterSeconds: number; reason: 'budget' | 'backoff' | 'locked' }
