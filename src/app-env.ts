import type { Config } from './config'
import type { Client } from './db/audit'
import type { Database } from './db/client'
import type { SessionRow, UserRow } from './db/schema'
import type { OrgAccess } from './orgs/access'
import type { Limiter } from './rate-limit/client'
import type { SignInContext } from './sign-in/context'

/** The generated `Env`, with the secrets that are optional and so are not in `wrangler.toml`'s required list. */
export type Bindings = Env & { PASSWORD_PEPPER?: string; SECRET_KEY_PREVIOUS?: string; OAUTH_CLIENT_SECRETS?: string }

/** What every handler's context carries: the bindings, and what the middleware put on the request. */
export type AppEnv = {
  Bindings: Bindings
  Variables: {
    requestId: string
    /** The parsed JSON body, when the request had one (set by jsonOnly()). */
    requestJson?: unknown
    /** The caller's address (CF-Connecting-IP) and user agent, for audit records and throttling. */
    client: Client
    config: Config
    /** The limiter, made for this request's client (middleware/config.ts). */
    limiter: Limiter
    /** What the sign-in layer is handed: db, config, limiter, caller and the request's time. */
    signIn: SignInContext
    db: Database
    /** Set by requireAuth(): the signed-in user and session, as read back from the database. */
    user: UserRow
    session: SessionRow
    /** Set by requireOrg(): the caller's membership of the path's organization, read on this request. */
    org: OrgAccess
    /** Set on the hosted pages: the browser session the cookie holds, if any. */
    browser?: { user: UserRow; session: SessionRow }
    /** Set on the hosted pages: this response's CSP nonce. */
    nonce: string
    /** Set on the hosted pages' POSTs once the form passed its CSRF check: the form's fields. */
    form: Record<string, string>
  }
}
