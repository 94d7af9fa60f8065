import type { Config } from '../config'
import type { Client } from '../db/audit'
import type { Database } from '../db/client'
import type { SessionHolder, SessionRow, UserRow } from '../db/schema'
import type { Limiter } from '../rate-limit/client'

/**
 * What the sign-in layer works with, made once per request (middleware/config.ts) and nothing of
 * HTTP: the database, the settings, the limiter made for this client, who the caller is, and the
 * request's time. A route, a hosted page or an authorization endpoint hands the same object in,
 * and turns what comes back into its own kind of answer.
 */
export type SignInContext = {
  db: Database
  config: Config
  limiter: Limiter
  /** The caller's address and user agent, for throttling and audit records. */
  caller: Client
  /** When the request arrived: taken once, passed down. */
  now: Date
  /** The request's id, for the log lines a refusal writes (never in an answer of its own). */
  requestId: string
  /**
   * What will hold a session this request opens: a token pair (`api`, the JSON API) or the hosted
   * pages' cookie (`browser`), which decides its lifetime and whether it can ever be refreshed.
   */
  holder: SessionHolder
}

/** The signed-in account a request acts for, as requireAuth read it back: its user and session rows. */
export type SignedIn = { user: UserRow; session: SessionRow }
