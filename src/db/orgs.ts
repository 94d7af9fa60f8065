import { and, asc, desc, eq, gt, inArray, isNull, lt, or, type SQL, sql } from 'drizzle-orm'
import { type AuditEvent, auditStatement, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { violatedUniqueColumn } from './errors'
import { auditEvents, type OrganizationRow, organizations, orgInvitations, orgMembers, orgRoles, sessions, users } from './schema'

/*
 * Organizations, their members, roles and invitations. Every write that changes who may do what
 * is one batch with its audit row (org_id set), and the last-owner rule is a condition of the
 * write itself, so ten simultaneous demotions cannot leave an organization without an owner.
 */

/** The organization a path names, by id or by slug. */
const named = (ref: string) => or(eq(organizations.id, ref), eq(organizations.slug, ref.toLowerCase()))

/** A member's roles hold `owner` (SQL over a JSON array column). */
const holdsOwner = (roles: SQL | typeof orgMembers.roles) => sql`EXISTS (SELECT 1 FROM json_each(${roles}) WHERE value = 'owner')`

/** The organization has another owner besides this member. */
const anotherOwner = (orgId: string, userId: string) =>
  sql`EXISTS (SELECT 1 FROM org_members other WHERE other.org_id = ${orgId} AND other.user_id <> ${userId} AND EXISTS (SELECT 1 FROM json_each(other.roles) WHERE value = 'owner'))`

export type Membership = { org: OrganizationRow; roles: string[] }

/** The caller's membership of the organization a path names (by id or slug), or undefined: not a member, or no such organization. */
export async function findMembership(db: Database, ref: string, userId: string): Promise<Membership | undefined> {
  const row = await db
    .select({ org: organizations, roles: orgMembers.roles })
    .from(organizations)
    .innerJoin(orgMembers, and(eq(orgMembers.orgId, organizations.id), eq(orgMembers.userId, userId)))
    .where(named(ref))
    .get()
  return row
}

/** A member's roles in an organization by its id, or undefined when not a member. */
export async function memberRoles(db: Database, orgId: string, userId: string): Promise<string[] | undefined> {
  const row = await db
    .select({ roles: orgMembers.roles })
    .from(orgMembers)
    .where(and(eq(orgMembers.orgId, orgId), eq(orgMembers.userId, userId)))
    .get()
  return row?.roles
}

/** The organization's own roles, by name. */
export async function customRoles(db: Database, orgId: string): Promise<Map<string, string[]>> {
  const rows = await db.select({ name: orgRoles.name, permissions: orgRoles.permissions }).from(orgRoles).where(eq(orgRoles.orgId, orgId))
  return new Map(rows.map((row) => [row.name, row.permissions]))
}

export async function listRoles(db: Database, orgId: string) {
  return db.select().from(orgRoles).where(eq(orgRoles.orgId, orgId)).orderBy(asc(orgRoles.name))
}

/** A new organization with its creator as owner, and the event; 'slug_taken' when the slug is in use. */
export async function createOrganization(
  db: Database,
  input: { org: { id: string; slug: string; name: string }; userId: string; client: Client; now: Date },
): Promise<OrganizationRow | 'slug_taken'> {
  const { org, userId, now } = input
  try {
    const [[created]] = await db.batch([
      db
        .insert(organizations)
        .values({ ...org, createdAt: now, updatedAt: now })
        .returning(),
      db.insert(orgMembers).values({ orgId: org.id, userId, roles: ['owner'], joinedAt: now }),
      auditStatement(db, { action: 'org.created', actorId: userId, orgId: org.id, details: { slug: org.slug } }, input.client, now),
    ])
    if (!created) throw new Error('the insert returned no row')
    return created
  } catch (error) {
    if (violatedUniqueColumn(error) === 'organizations.slug') return 'slug_taken'
    throw error
  }
}

/** The organizations a person belongs to, with their roles in each. */
export async function listOrganizationsOf(db: Database, userId: string) {
  return db
    .select({ org: organizations, roles: orgMembers.roles })
    .from(orgMembers)
    .innerJoin(organizations, eq(organizations.id, orgMembers.orgId))
    .where(eq(orgMembers.userId, userId))
    .orderBy(asc(organizations.slug))
}

/** Every organization, for site admins: keyset-paged on the (time-ordered) id. */
export async function listAllOrganizations(db: Database, input: { limit: number; after?: string }) {
  return db
    .select()
    .from(organizations)
    .where(input.after ? gt(organizations.id, input.after) : undefined)
    .orderBy(asc(organizations.id))
    .limit(input.limit)
}

export async function updateOrganization(
  db: Database,
  input: { orgId: string; change: { name?: string; slug?: string }; actorId: string; client: Client; now: Date },
): Promise<OrganizationRow | 'slug_taken' | undefined> {
  const { orgId, now } = input
  try {
    const [, [updated]] = await db.batch([
      auditStatementWhen(
        db,
        { action: 'org.updated', actorId: input.actorId, orgId, details: { fields: Object.keys(input.change).join(' ') } },
        input.client,
        now,
        sql`EXISTS (SELECT 1 FROM organizations WHERE id = ${orgId})`,
      ),
      db
        .update(organizations)
        .set({ ...input.change, updatedAt: now })
        .where(eq(organizations.id, orgId))
        .returning(),
    ])
    return updated
  } catch (error) {
    if (violatedUniqueColumn(error) === 'organizations.slug') return 'slug_taken'
    throw error
  }
}

/** Deletes an organization: its members, roles and invitations go with it; sessions working in it stop naming it. */
export async function deleteOrganization(db: Database, input: { orgId: string; actorId: string; client: Client; now: Date }) {
  const { orgId, now } = input
  await db.batch([
    auditStatementWhen(
      db,
      { action: 'org.deleted', actorId: input.actorId, orgId },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM organizations WHERE id = ${orgId})`,
    ),
    db.update(sessions).set({ activeOrgId: null }).where(eq(sessions.activeOrgId, orgId)),
    db.delete(organizations).where(eq(organizations.id, orgId)),
  ])
}

/** A page of members with their accounts, in the order they joined (keyset on the user id within a join time). */
export async function listMembers(db: Database, input: { orgId: string; limit: number; after?: string }) {
  return db
    .select({
      userId: orgMembers.userId,
      username: users.username,
      email: users.email,
      roles: orgMembers.roles,
      joinedAt: orgMembers.joinedAt,
    })
    .from(orgMembers)
    .innerJoin(users, eq(users.id, orgMembers.userId))
    .where(and(eq(orgMembers.orgId, input.orgId), input.after ? gt(orgMembers.userId, input.after) : undefined))
    .orderBy(asc(orgMembers.userId))
    .limit(input.limit)
}

/** Whether losing `owner` would leave the organization without one: the member holds it and nobody else does. */
const wouldOrphan = (orgId: string, userId: string) =>
  sql`(${holdsOwner(sql`(SELECT roles FROM org_members WHERE org_id = ${orgId} AND user_id = ${userId})`)} AND NOT ${anotherOwner(orgId, userId)})`

export type MemberWrite = 'done' | 'last_owner' | 'not_member'

/**
 * A member's new roles, with the event, in one batch whose every statement holds only while the
 * last-owner rule does: a member keeps `owner`, or another owner remains. Of simultaneous
 * demotions of the last two owners, the database serialises them and the second finds no other.
 */
export async function setMemberRoles(
  db: Database,
  input: { orgId: string; userId: string; roles: string[]; actorId: string; client: Client; now: Date },
): Promise<MemberWrite> {
  const { orgId, userId, roles, now } = input
  const member = and(eq(orgMembers.orgId, orgId), eq(orgMembers.userId, userId))
  const allowed = roles.includes('owner') ? sql`1 = 1` : sql`NOT ${wouldOrphan(orgId, userId)}`
  const [, updated] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'org.roles_changed', actorId: input.actorId, targetId: userId, orgId, details: { roles: roles.join(' ') } },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM org_members WHERE org_id = ${orgId} AND user_id = ${userId}) AND ${allowed}`,
    ),
    db.update(orgMembers).set({ roles }).where(and(member, allowed)).returning({ userId: orgMembers.userId }),
  ])
  if (updated.length > 0) return 'done'
  return (await memberRoles(db, orgId, userId)) ? 'last_owner' : 'not_member'
}

/** Removes a member (or a member leaves), with the event, unless it is the last owner; their sessions stop working in it. */
export async function removeMember(
  db: Database,
  input: { orgId: string; userId: string; actorId: string; client: Client; now: Date },
): Promise<MemberWrite> {
  const { orgId, userId, now } = input
  const allowed = sql`NOT ${wouldOrphan(orgId, userId)}`
  const [, , removed] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'org.member_removed', actorId: input.actorId, targetId: userId, orgId },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM org_members WHERE org_id = ${orgId} AND user_id = ${userId}) AND ${allowed}`,
    ),
    db
      .update(sessions)
      .set({ activeOrgId: null })
      .where(and(eq(sessions.userId, userId), eq(sessions.activeOrgId, orgId), allowed)),
    db
      .delete(orgMembers)
      .where(and(eq(orgMembers.orgId, orgId), eq(orgMembers.userId, userId), allowed))
      .returning({ userId: orgMembers.userId }),
  ])
  if (removed.length > 0) return 'done'
  return (await memberRoles(db, orgId, userId)) ? 'last_owner' : 'not_member'
}

/** Whether every one of these roles exists in the organization (built-in ones always do). */
export async function unknownRoles(db: Database, orgId: string, roles: string[], builtIn: (name: string) => boolean): Promise<string[]> {
  const custom = roles.filter((role) => !builtIn(role))
  if (custom.length === 0) return []
  const found = await db
    .select({ name: orgRoles.name })
    .from(orgRoles)
    .where(and(eq(orgRoles.orgId, orgId), inArray(orgRoles.name, custom)))
  return custom.filter((role) => !found.some((row) => row.name === role))
}

type RoleEvent = (action: AuditEvent['action']) => AuditEvent

export async function defineRole(
  db: Database,
  input: { orgId: string; name: string; permissions: string[]; actorId: string; client: Client; now: Date },
): Promise<'done' | 'role_exists'> {
  const { orgId, now } = input
  const event: RoleEvent = (action) => ({
    action,
    actorId: input.actorId,
    orgId,
    details: { role: input.name, permissions: input.permissions.join(' ') },
  })
  try {
    await db.batch([
      db.insert(orgRoles).values({ orgId, name: input.name, permissions: input.permissions, createdAt: now, updatedAt: now }),
      auditStatement(db, event('org.role_defined'), input.client, now),
    ])
    return 'done'
  } catch (error) {
    if (violatedUniqueColumn(error) === 'org_roles.org_id') return 'role_exists'
    throw error
  }
}

export async function changeRole(
  db: Database,
  input: { orgId: string; name: string; permissions: string[]; actorId: string; client: Client; now: Date },
) {
  const { orgId, name, now } = input
  const role = and(eq(orgRoles.orgId, orgId), eq(orgRoles.name, name))
  const [, [updated]] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'org.role_changed', actorId: input.actorId, orgId, details: { role: name, permissions: input.permissions.join(' ') } },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM org_roles WHERE org_id = ${orgId} AND name = ${name})`,
    ),
    db.update(orgRoles).set({ permissions: input.permissions, updatedAt: now }).where(role).returning(),
  ])
  return updated
}

/** Removes a role no member holds; 'role_in_use' while one does. */
export async function removeRole(
  db: Database,
  input: { orgId: string; name: string; actorId: string; client: Client; now: Date },
): Promise<'done' | 'role_in_use' | 'not_found'> {
  const { orgId, name, now } = input
  const unused = sql`NOT EXISTS (SELECT 1 FROM org_members m WHERE m.org_id = ${orgId} AND EXISTS (SELECT 1 FROM json_each(m.roles) WHERE value = ${name}))`
  const unusedInvitations = sql`NOT EXISTS (SELECT 1 FROM org_invitations i WHERE i.org_id = ${orgId} AND i.accepted_at IS NULL AND EXISTS (SELECT 1 FROM json_each(i.roles) WHERE value = ${name}))`
  const [, removed] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'org.role_removed', actorId: input.actorId, orgId, details: { role: name } },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM org_roles WHERE org_id = ${orgId} AND name = ${name}) AND ${unused} AND ${unusedInvitations}`,
    ),
    db
      .delete(orgRoles)
      .where(and(eq(orgRoles.orgId, orgId), eq(orgRoles.name, name), unused, unusedInvitations))
      .returning({ name: orgRoles.name }),
  ])
  if (removed.length > 0) return 'done'
  const exists = await db
    .select({ name: orgRoles.name })
    .from(orgRoles)
    .where(and(eq(orgRoles.orgId, orgId), eq(orgRoles.name, name)))
    .get()
  return exists ? 'role_in_use' : 'not_found'
}

/** An organization's events, newest first, keyset-paged like the site-wide log. */
export async function listOrgAuditEvents(
  db: Database,
  input: { orgId: string; limit: number; before?: string; action?: AuditEvent['action'] },
) {
  return db
    .select()
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.orgId, input.orgId),
        input.before ? lt(auditEvents.id, input.before) : undefined,
        input.action ? eq(auditEvents.action, input.action) : undefined,
      ),
    )
    .orderBy(desc(auditEvents.id))
    .limit(input.limit)
}

/** Whether an account with this (verified or not) address is already a member. */
export async function isMemberByEmail(db: Database, orgId: string, email: string): Promise<boolean> {
  const row = await db
    .select({ userId: orgMembers.userId })
    .from(orgMembers)
    .innerJoin(users, eq(users.id, orgMembers.userId))
    .where(and(eq(orgMembers.orgId, orgId), eq(users.email, email)))
    .get()
  return row !== undefined
}

export async function createInvitation(db: Database, input: { invitation: typeof orgInvitations.$inferInsert; client: Client; now: Date }) {
  const { invitation, now } = input
  const [[created]] = await db.batch([
    db.insert(orgInvitations).values(invitation).returning(),
    auditStatement(
      db,
      {
        action: 'org.invitation_sent',
        actorId: invitation.invitedBy,
        orgId: invitation.orgId,
        details: { invitation_id: invitation.id, roles: invitation.roles.join(' ') },
      },
      input.client,
      now,
    ),
  ])
  if (!created) throw new Error('the insert returned no row')
  return created
}

/** The invitations still open: not accepted, not expired. */
export async function listOpenInvitations(db: Database, orgId: string, now: Date) {
  return db
    .select()
    .from(orgInvitations)
    .where(and(eq(orgInvitations.orgId, orgId), isNull(orgInvitations.acceptedAt), gt(orgInvitations.expiresAt, now)))
    .orderBy(asc(orgInvitations.createdAt), asc(orgInvitations.id))
}

/** Revokes an open invitation of this organization (never another's), with the event. */
export async function revokeInvitation(db: Database, input: { orgId: string; id: string; actorId: string; client: Client; now: Date }) {
  const open = and(eq(orgInvitations.id, input.id), eq(orgInvitations.orgId, input.orgId), isNull(orgInvitations.acceptedAt))
  const [, removed] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'org.invitation_revoked', actorId: input.actorId, orgId: input.orgId, details: { invitation_id: input.id } },
      input.client,
      input.now,
      sql`EXISTS (SELECT 1 FROM org_invitations WHERE ${open})`,
    ),
    db.delete(orgInvitations).where(open).returning({ id: orgInvitations.id }),
  ])
  return removed.length > 0
}

/** An invitation that can still be accepted, with its organization. */
export async function findOpenInvitation(db: Database, tokenHash: string, now: Date) {
  return db
    .select({ invitation: orgInvitations, org: organizations })
    .from(orgInvitations)
    .innerJoin(organizations, eq(organizations.id, orgInvitations.orgId))
    .where(and(eq(orgInvitations.tokenHash, tokenHash), isNull(orgInvitations.acceptedAt), gt(orgInvitations.expiresAt, now)))
    .get()
}

/**
 * Accepts an invitation: spends it (once, while open and for this verified address) and makes the
 * account a member with its roles (or adds them to the roles it has), with the event, in one
 * batch. False when it was spent or closed meanwhile.
 */
export async function acceptInvitation(
  db: Database,
  input: { invitationId: string; orgId: string; userId: string; email: string; roles: string[]; client: Client; now: Date },
): Promise<boolean> {
  const { now } = input
  // This request's own mark on the row it spends: a rival acceptance in the same millisecond writes nothing of its own.
  const marker = `accepted:${crypto.randomUUID()}`
  const spent = sql`EXISTS (SELECT 1 FROM org_invitations WHERE id = ${input.invitationId} AND token_hash = ${marker})`
  const [[accepted]] = await db.batch([
    db
      .update(orgInvitations)
      .set({ acceptedAt: now, tokenHash: marker })
      .where(
        and(
          eq(orgInvitations.id, input.invitationId),
          isNull(orgInvitations.acceptedAt),
          gt(orgInvitations.expiresAt, now),
          eq(orgInvitations.email, input.email),
          sql`EXISTS (SELECT 1 FROM users WHERE id = ${input.userId} AND email = ${input.email} AND email_verified = 1)`,
        ),
      )
      .returning({ id: orgInvitations.id }),
    db
      .insert(orgMembers)
      .select(
        db
          .select({
            orgId: sql<string>`${input.orgId}`.as('org_id'),
            userId: sql<string>`${input.userId}`.as('user_id'),
            roles: sql<string>`${JSON.stringify(input.roles)}`.as('roles'),
            joinedAt: sql<number>`${now.getTime()}`.as('joined_at'),
          })
          .from(sql`(SELECT 1)`)
          .where(spent),
      )
      .onConflictDoUpdate({
        target: [orgMembers.orgId, orgMembers.userId],
        set: {
          roles: sql`(SELECT json_group_array(DISTINCT value) FROM (SELECT value FROM json_each(org_members.roles) UNION SELECT value FROM json_each(excluded.roles)))`,
        },
      }),
    auditStatementWhen(
      db,
      {
        action: 'org.member_added',
        actorId: input.userId,
        targetId: input.userId,
        orgId: input.orgId,
        details: { roles: input.roles.join(' ') },
      },
      input.client,
      new Date(now.getTime() + 1),
      spent,
    ),
    // The organization's other open invitations to this address close with it: a member removed later cannot rejoin through one.
    db
      .delete(orgInvitations)
      .where(
        and(
          eq(orgInvitations.orgId, input.orgId),
          eq(orgInvitations.email, input.email),
          isNull(orgInvitations.acceptedAt),
          sql`${orgInvitations.id} <> ${input.invitationId}`,
          spent,
        ),
      ),
    auditStatementWhen(
      db,
      {
        action: 'org.invitation_accepted',
        actorId: input.userId,
        targetId: input.userId,
        orgId: input.orgId,
        details: { invitation_id: input.invitationId },
      },
      input.client,
      now,
      spent,
    ),
  ])
  return accepted !== undefined
}

/** Makes a session work in an organization (or in none), for its tokens' display claims. */
export async function setActiveOrganization(db: Database, input: { sessionId: string; orgId: string | null }) {
  await db.update(sessions).set({ activeOrgId: input.orgId }).where(eq(sessions.id, input.sessionId))
}

/** The organization a session works in, while its user is still a member: the access token's display claims. */
export async function activeOrganizationOf(db: Database, input: { orgId: string; userId: string }) {
  return db
    .select({ id: organizations.id, slug: organizations.slug, roles: orgMembers.roles })
    .from(orgMembers)
    .innerJoin(organizations, eq(organizations.id, orgMembers.orgId))
    .where(and(eq(orgMembers.orgId, input.orgId), eq(orgMembers.userId, input.userId)))
    .get()
}

/**
 * Gives an open invitation the token its mail carries (replacing the placeholder it was created
 * with, or an earlier attempt's), and reads back what the mail says. Undefined once it is
 * accepted, revoked, expired, or its organization is gone.
 */
export async function armInvitation(db: Database, input: { id: string; tokenHash: string; now: Date }) {
  const [armed] = await db
    .update(orgInvitations)
    .set({ tokenHash: input.tokenHash })
    .where(and(eq(orgInvitations.id, input.id), isNull(orgInvitations.acceptedAt), gt(orgInvitations.expiresAt, input.now)))
    .returning()
  if (!armed) return undefined
  const org = await db.select({ name: organizations.name }).from(organizations).where(eq(organizations.id, armed.orgId)).get()
  return org ? { ...armed, orgName: org.name } : undefined
}

/** The organization a session works in, if it names one. */
export async function activeOrgIdOf(db: Database, sessionId: string): Promise<string | null> {
  const row = await db.select({ activeOrgId: sessions.activeOrgId }).from(sessions).where(eq(sessions.id, sessionId)).get()
  return row?.activeOrgId ?? null
}
