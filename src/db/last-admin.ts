/**
 * The writes the last-admin rule guards: a role or disabled-flag change, and deleting an account.
 * Each checks, in the statement that writes, that at least one enabled admin remains.
 */
import { and, eq, type SQL, sql } from 'drizzle-orm'
import type { BatchItem } from 'drizzle-orm/batch'
import type { Role } from '../auth/roles'
import { type AuditEvent, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { endGrantsOf } from './oauth-grants'
import { organizations, sessions, type UserRow, users } from './schema'

export type AccountChange = { role?: Role; disabled?: boolean }

/**
 * True for the target row while the change is allowed: a moderator touches only `user` accounts,
 * and no change may leave zero enabled admins. The check reads the table in the same statement
 * that writes, so two admins demoting each other at once cannot both succeed: D1 runs statements
 * one at a time, and the second one sees the first one's result.
 */
function changeAllowed(targetId: string, change: AccountChange | 'delete', onlyUserAccounts: boolean): SQL {
  const after =
    change === 'delete'
      ? sql`0`
      : sql`(${change.role !== undefined ? sql`${change.role}` : users.role} = 'admin' AND ${
          change.disabled !== undefined ? sql`${change.disabled ? 1 : 0}` : users.disabled
        } = 0)`
  return and(
    eq(users.id, targetId),
    onlyUserAccounts ? eq(users.role, 'user') : undefined,
    sql`(NOT (${users.role} = 'admin' AND ${users.disabled} = 0) OR ${after} OR EXISTS (SELECT 1 FROM users AS other WHERE other.role = 'admin' AND other.disabled = 0 AND other.id <> ${targetId}))`,
  )!
}

const existsAllowed = (allowed: SQL) => sql`EXISTS (SELECT 1 FROM users WHERE ${allowed})`

type Actor = { id: string | null; onlyUserAccounts: boolean }

/**
 * Changes a role and/or the disabled flag with the last-admin guard, ending every session when
 * the account is disabled, and auditing each change, all in one batch. Returns the updated row,
 * or undefined when the guard refused (or the user does not exist).
 */
export async function changeRoleOrStatus(
  db: Database,
  input: { target: UserRow; change: AccountChange; actor: Actor; client: Client; now: Date },
): Promise<UserRow | undefined> {
  const { target, change, actor, client, now } = input
  const allowed = changeAllowed(target.id, change, actor.onlyUserAccounts)
  const events: AuditEvent[] = []
  if (change.role !== undefined && change.role !== target.role) {
    events.push({ action: 'admin.role_changed', actorId: actor.id, targetId: target.id, details: { from: target.role, to: change.role } })
  }
  if (change.disabled !== undefined && change.disabled !== target.disabled) {
    events.push({ action: change.disabled ? 'admin.user_disabled' : 'admin.user_enabled', actorId: actor.id, targetId: target.id })
  }
  const before: BatchItem<'sqlite'>[] = events.map((event, i) =>
    auditStatementWhen(db, event, client, new Date(now.getTime() + i), existsAllowed(allowed)),
  )
  if (change.disabled) {
    before.push(db.delete(sessions).where(and(eq(sessions.userId, target.id), existsAllowed(allowed))))
    before.push(endGrantsOf(db, target.id, existsAllowed(allowed)))
  }
  // Last, so the statements above see the row as it was and share this statement's verdict.
  const update = db
    .update(users)
    .set({ ...change, updatedAt: now })
    .where(allowed)
    .returning()
  const statements: BatchItem<'sqlite'>[] = [...before, update]
  const results = await db.batch(statements as [BatchItem<'sqlite'>, ...BatchItem<'sqlite'>[]])
  const [updated] = results[results.length - 1] as UserRow[]
  return updated
}

/**
 * Why a deletion did not happen: the account is gone already, the proof it was confirmed with no
 * longer stands (the password changed meanwhile), or it would leave no enabled admin (or the
 * actor may not touch it).
 */
export type RemovedAccount = 'removed' | 'not_found' | 'proof_stale' | 'last_admin' | 'last_owner'

/** The account is an organization's only owner while others are members: deleting it would leave them ownerless. */
const soleOwnerOfOthers = (userId: string) =>
  sql`EXISTS (SELECT 1 FROM org_members m WHERE m.user_id = ${userId} AND EXISTS (SELECT 1 FROM json_each(m.roles) WHERE value = 'owner') AND NOT EXISTS (SELECT 1 FROM org_members o WHERE o.org_id = m.org_id AND o.user_id <> ${userId} AND EXISTS (SELECT 1 FROM json_each(o.roles) WHERE value = 'owner')) AND EXISTS (SELECT 1 FROM org_members x WHERE x.org_id = m.org_id AND x.user_id <> ${userId}))`

/**
 * Deletes an account with the last-admin guard, auditing it in the same batch, and reads back in
 * that batch why it was refused, so the caller answers without another query.
 */
export async function removeAccount(
  db: Database,
  input: { targetId: string; event: AuditEvent; actor: Actor; client: Client; now: Date; confirmedBy?: SQL },
): Promise<RemovedAccount> {
  // A deletion the owner confirmed with a proof holds only while what it was checked against stands.
  const allowed = and(
    changeAllowed(input.targetId, 'delete', input.actor.onlyUserAccounts),
    input.confirmedBy,
    sql`NOT ${soleOwnerOfOthers(input.targetId)}`,
  )!
  const [, , deleted, [left]] = await db.batch([
    auditStatementWhen(db, input.event, input.client, input.now, existsAllowed(allowed)),
    // The organizations it is the only member of go with it (their other rows cascade).
    db
      .delete(organizations)
      .where(
        sql`${existsAllowed(allowed)} AND ${organizations.id} IN (SELECT org_id FROM org_members WHERE user_id = ${input.targetId}) AND NOT EXISTS (SELECT 1 FROM org_members x WHERE x.org_id = ${organizations.id} AND x.user_id <> ${input.targetId})`,
      ),
    // Sessions, factors, tokens and memberships go with the user (ON DELETE CASCADE).
    db.delete(users).where(allowed).returning({ id: users.id }),
    db
      .select({ proofStands: sql<number>`${input.confirmedBy ?? sql`1`}`, soleOwner: sql<number>`${soleOwnerOfOthers(input.targetId)}` })
      .from(users)
      .where(eq(users.id, input.targetId)),
  ])
  if (deleted.length > 0) return 'removed'
  if (!left) return 'not_found'
  if (!left.proofStands) return 'proof_stale'
  return left.soleOwner ? 'last_owner' : 'last_admin'
}
