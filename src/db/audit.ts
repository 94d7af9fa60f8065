import { and, desc, eq, inArray, lt, type SQL, sql } from 'drizzle-orm'
import { union } from 'drizzle-orm/sqlite-core'
import { uuidv7 } from '../lib/ids'
import type { AuditAction } from './audit-actions'
import type { Database } from './client'
import { auditEvents, users } from './schema'

export { AUDIT_ACTIONS, type AuditAction } from './audit-actions'

/** Who is asking, as far as an audit record needs to know. */
export type Client = { ip: string | null; userAgent: string | null }

const MAX_USER_AGENT = 256

export type AuditEvent = {
  action: AuditAction
  actorId?: string | null
  targetId?: string | null
  /** Small facts such as a role before and after; never a password, a token or a hash. */
  details?: Record<string, string | number | boolean | null>
  /** The organization an organization's event belongs to (its own audit view reads by it). */
  orgId?: string | null
}

/** An insert to run in the same batch as the change it records. */
export function auditStatement(db: Database, event: AuditEvent, client: Client, now: Date) {
  return db.insert(auditEvents).values({
    id: uuidv7(now.getTime()),
    at: now,
    action: event.action,
    actorId: event.actorId ?? null,
    targetId: event.targetId ?? null,
    ip: client.ip,
    userAgent: client.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
    details: event.details ?? null,
    orgId: event.orgId ?? null,
  })
}

/** An event that is the whole write (a failed login, for one). */
export async function recordEvent(db: Database, event: AuditEvent, client: Client, now: Date): Promise<void> {
  await auditStatement(db, event, client, now)
}

/**
 * An audit insert that happens only while `condition` holds. Placed in a batch before the change
 * it records, with the change's own guard as the condition, it is written exactly when the change
 * is: the batch is one transaction and both statements see the same rows.
 */
export function auditStatementWhen(
  db: Database,
  event: AuditEvent,
  client: Client,
  now: Date,
  condition: SQL,
  /** Details the database computes as it writes (counts of what the batch removes), as a JSON object. */
  computedDetails?: SQL,
) {
  return db.insert(auditEvents).select(
    db
      .select({
        id: sql<string>`${uuidv7(now.getTime())}`.as('id'),
        at: sql<number>`${now.getTime()}`.as('at'),
        action: sql<string>`${event.action}`.as('action'),
        actorId: sql<string | null>`${event.actorId ?? null}`.as('actor_id'),
        targetId: sql<string | null>`${event.targetId ?? null}`.as('target_id'),
        ip: sql<string | null>`${client.ip}`.as('ip'),
        userAgent: sql<string | null>`${client.userAgent?.slice(0, MAX_USER_AGENT) ?? null}`.as('user_agent'),
        details: (computedDetails ?? sql<string | null>`${event.details ? JSON.stringify(event.details) : null}`).as('details'),
        orgId: sql<string | null>`${event.orgId ?? null}`.as('org_id'),
      })
      .from(sql`(SELECT 1)`)
      .where(condition),
  )
}

type AuditFilter = { limit: number; before?: string; userId?: string; action?: AuditAction }

/** Newest first, keyset-paged on the time-ordered id. */
export async function listAuditEvents(db: Database, filter: AuditFilter) {
  const { limit, before, userId, action } = filter
  const page = (...conditions: (SQL | undefined)[]) =>
    and(before ? lt(auditEvents.id, before) : undefined, action ? eq(auditEvents.action, action) : undefined, ...conditions)
  if (!userId) return db.select().from(auditEvents).where(page()).orderBy(desc(auditEvents.id)).limit(limit)

  // A user's events are those they did and those done to them. Asked as one `actor OR target`,
  // SQLite reads every event of the user through both indexes and sorts them, so a busy account's
  // page read its whole history. Instead each index gives its newest `limit` ids, in index order,
  // and the page is the newest `limit` of those: at most 2 × limit index entries and limit rows.
  const newest = (column: typeof auditEvents.actorId | typeof auditEvents.targetId, name: string) => {
    const ids = db
      .select({ id: auditEvents.id })
      .from(auditEvents)
      .where(page(eq(column, userId)))
      .orderBy(desc(auditEvents.id))
      .limit(limit)
      .as(name)
    return db.select({ id: ids.id }).from(ids)
  }
  const pageIds = union(newest(auditEvents.actorId, 'by_actor'), newest(auditEvents.targetId, 'by_target'))
    .orderBy(desc(sql`id`))
    .limit(limit)
  return db.select().from(auditEvents).where(inArray(auditEvents.id, pageIds)).orderBy(desc(auditEvents.id))
}

/** The current role of each account among `ids` that still exists (for showing an actor by role only). */
export async function rolesOf(db: Database, ids: string[]): Promise<Map<string, string>> {
  const roles = new Map<string, string>()
  // Bound parameters are capped per statement: ask in slices.
  for (let start = 0; start < ids.length; start += 90) {
    const rows = await db
      .select({ id: users.id, role: users.role })
      .from(users)
      .where(inArray(users.id, ids.slice(start, start + 90)))
    for (const row of rows) roles.set(row.id, row.role)
  }
  return roles
}
