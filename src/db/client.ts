import { AsyncLocalStorage } from 'node:async_hooks'
import { type DrizzleD1Database, drizzle } from 'drizzle-orm/d1'
import { memoize } from '../lib/memo'
import { type D1Usage, meteredSession } from './meter'
import * as schema from './schema'

export type Database = DrizzleD1Database<typeof schema>

/**
 * Where a D1 session's first query goes (Cloudflare's D1 Sessions API): `first-primary`, or
 * `first-unconstrained` (the nearest replica), or a bookmark (any copy at least as new as the
 * write it names). Every query after the first reads a copy at least as new as what came before.
 */
export type SessionStart = 'first-primary' | 'first-unconstrained' | (string & {})

/** The D1 session of the request being served, for every statement it runs. */
const requestSession = new AsyncLocalStorage<D1DatabaseSession>()

/**
 * A statement that runs in the D1 session of whichever request executes it, or on the binding
 * itself (the primary) outside a request. Drizzle prepares a statement once and binds it on every
 * execution, so one prepared query serves every request, each in its own session.
 */
class RoutedStatement implements D1PreparedStatement {
  constructor(
    private readonly binding: D1Database,
    private readonly sql: string,
  ) {}

  private current(): D1PreparedStatement {
    return (requestSession.getStore() ?? this.binding).prepare(this.sql)
  }

  bind(...values: unknown[]) {
    return this.current().bind(...values)
  }
  first<T>(colName?: string): Promise<T | null> {
    return colName === undefined ? this.current().first<T>() : this.current().first<T>(colName)
  }
  run<T>() {
    return this.current().run<T>()
  }
  all<T>() {
    return this.current().all<T>()
  }
  raw<T = unknown[]>(options: { columnNames: true }): Promise<[string[], ...T[]]>
  raw<T = unknown[]>(options?: { columnNames?: false }): Promise<T[]>
  raw<T = unknown[]>(options?: { columnNames?: boolean }): Promise<T[] | [string[], ...T[]]> {
    return this.current().raw<T>(options as { columnNames: true })
  }
}

/**
 * The Drizzle handle for a D1 binding: one per isolate, so a query prepared once (its SQL built
 * once) is reused by every request. Its statements run in the request's D1 session (inSession);
 * outside one (the mail consumer, the daily upkeep, scripts) they go to the binding, which always
 * queries the primary.
 */
export const databaseFor: (binding: D1Database) => Database = memoize((binding) => {
  const client = {
    prepare: (sql: string) => new RoutedStatement(binding, sql),
    batch: <T>(statements: D1PreparedStatement[]) => (requestSession.getStore() ?? binding).batch<T>(statements),
  }
  // Drizzle's type names D1Database, but it only ever calls prepare() and batch().
  return drizzle(client as unknown as D1Database, { schema })
})

/** A request's D1 session: the bookmark to hand back, and, when metered, what its queries cost. */
export type RequestSession = { session: D1DatabaseSession; bookmark: () => string | null; usage?: D1Usage }

/** Opens one request's D1 session; with `meter`, every statement's D1 meta is added up. */
export function openSession(binding: D1Database, start: SessionStart, options: { meter: boolean }): RequestSession {
  const session = binding.withSession(start)
  if (!options.meter) return { session, bookmark: () => session.getBookmark() }
  const metered = meteredSession(session)
  return { session: metered.session, bookmark: () => session.getBookmark(), usage: metered.usage }
}

/** Runs `work` (and everything it awaits or starts) with the statements of databaseFor() in `session`. */
export function inSession<T>(session: D1DatabaseSession, work: () => T): T {
  return requestSession.run(session, work)
}
