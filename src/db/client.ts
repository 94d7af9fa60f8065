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

/** A request's database: its own D1 session, the bookmark to hand back, and, when metered, its usage. */
export type RequestDatabase = { db: Database; bookmark: () => string | null; usage?: D1Usage }

const drizzleOver = (client: D1Database | D1DatabaseSession): Database =>
  // Drizzle's type names D1Database, but it only ever calls prepare() and batch(), which a session has.
  drizzle(client as D1Database, { schema })

/** Opens one request's D1 session; with `meter`, every statement's D1 meta is added up. */
export function openSession(binding: D1Database, start: SessionStart, options: { meter: boolean }): RequestDatabase {
  const session = binding.withSession(start)
  if (!options.meter) return { db: drizzleOver(session), bookmark: () => session.getBookmark() }
  const metered = meteredSession(session)
  return { db: drizzleOver(metered.session), bookmark: () => session.getBookmark(), usage: metered.usage }
}

/**
 * A handle on the primary, outside any request (the mail consumer, the daily upkeep, scripts): the
 * binding.s own queries always go to the primary. One per binding.
 */
export const primaryDatabase: (binding: D1Database) => Database = memoize((binding) => drizzleOver(binding))
