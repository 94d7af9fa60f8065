import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { databaseFor, inSession, openSession, type SessionStart } from '../db/client'
import { usageHeader } from '../db/meter'

/** The header a client sends back to read at least what it last wrote, and finds on every answer. */
export const BOOKMARK_HEADER = 'X-D1-Bookmark'
export const USAGE_HEADER = 'X-D1-Usage'

/** A D1 bookmark's shape (four lowercase hex groups: 8, 8, 8 and 32 digits); nothing else is passed to D1. */
const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/

/**
 * Where a request's D1 session starts. A request that may write (any method but GET and HEAD)
 * starts on the primary: it reads what it is about to change (a password hash, a refresh token, a
 * role) from the copy the write will go to. A read starts on the primary too in the `strict`
 * authenticated-read mode (the default), because every read route reads its session back first;
 * in `replica` mode it starts where the client's bookmark allows (at least as new as the client's
 * own last write), or at the nearest replica when it sent none. A bookmark that is not one starts
 * on the primary, which is as new as any bookmark.
 */
function sessionStart(c: Context<AppEnv>): SessionStart {
  const isRead = c.req.method === 'GET' || c.req.method === 'HEAD'
  if (!isRead || c.var.config.authReadMode === 'strict') return 'first-primary'
  const bookmark = c.req.header(BOOKMARK_HEADER)?.trim()
  if (bookmark === undefined || bookmark === '') return 'first-unconstrained'
  return BOOKMARK.test(bookmark) ? bookmark : 'first-primary'
}

/**
 * Runs the request in its own D1 session (every statement of `c.var.db` goes to it) and hands its bookmark back in
 * `X-D1-Bookmark`, so the client's next request can ask for at least what this one wrote. With
 * REPORT_D1_USAGE, `X-D1-Usage` says what the request's queries cost D1. Runs after requireConfig().
 */
export function useDatabase() {
  return createMiddleware<AppEnv>(async function openDatabase(c, next) {
    const request = openSession(c.env.DB, sessionStart(c), { meter: c.var.config.reportD1Usage })
    const db = databaseFor(c.env.DB)
    c.set('db', db)
    // The sign-in layer's context, now that the database is open: made once, with the request's time.
    c.set('signIn', {
      db,
      config: c.var.config,
      limiter: c.var.limiter,
      caller: c.var.client,
      now: new Date(),
      requestId: c.var.requestId,
      holder: 'api',
    })
    await inSession(request.session, next)
    const bookmark = request.bookmark()
    if (bookmark) c.res.headers.set(BOOKMARK_HEADER, bookmark)
    if (request.usage) c.res.headers.set(USAGE_HEADER, usageHeader(request.usage))
  })
}
