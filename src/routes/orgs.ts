import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { hashOpaqueToken, newOpaqueToken } from '../auth/opaque-tokens'
import { AUDIT_ACTIONS } from '../db/audit'
import {
  activeOrganizationOf,
  changeRole,
  createInvitation,
  createOrganization,
  defineRole,
  deleteOrganization,
  isMemberByEmail,
  listAllOrganizations,
  listMembers,
  listOpenInvitations,
  listOrgAuditEvents,
  listOrganizationsOf,
  listRoles,
  memberRoles,
  removeMember,
  removeRole,
  revokeInvitation,
  setActiveOrganization,
  setMemberRoles,
  updateOrganization,
} from '../db/orgs'
import type { OrganizationRow, OrgInvitationRow } from '../db/schema'
import { normaliseEmail } from '../db/users'
import { problem, rateLimited, validationFailed } from '../errors'
import { createRouter } from '../http/router'
import { signedIn } from '../http/signed-in'
import { uuidv7 } from '../lib/ids'
import { enqueueAfterWrite } from '../mail/jobs'
import { requireAuth } from '../middleware/require-auth'
import { requireOrg } from '../middleware/require-org'
import { requirePermission } from '../middleware/require-permission'
import { checkRolesGiven, demand, demandCovered, orgAccess, permissionsIn } from '../orgs/access'
import { acceptInvitationToken } from '../orgs/invitations'
import { isBuiltInRole, missingFrom, PERMISSION, ROLE_NAME } from '../orgs/permissions'
import { auditEventSchema } from '../schemas/audit'
import { emailField } from '../schemas/fields'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { cursorParam, encodeCursor, limitParam, page } from '../schemas/pagination'
import { bodyProblems, problems } from '../schemas/problem'
import { accessTokenFor } from '../sign-in/grant'
import { requireRecentProof } from '../sign-in/recent-proof'
import { auditEventView } from '../views/audit-event'

/*
 * Organizations and their roles (the contract's last section). Every route under /orgs/{org} goes
 * through requireOrg(), which reads the caller's membership on the request: a non-member gets 404
 * whatever the route, a member without the permission 403.
 */

const organizationSchema = z
  .object({ id: z.string(), slug: z.string(), name: z.string(), created_at: z.iso.datetime() })
  .openapi('Organization')
const roleNames = z.array(z.string().regex(ROLE_NAME, 'must be a role name (a-z, 0-9, _ and -)')).min(1).max(10)
const membershipSchema = z.object({ roles: z.array(z.string()) }).openapi('Membership')
const slug = z
  .string()
  .transform((value) => value.toLowerCase())
  .pipe(z.string().regex(/^[a-z0-9-]{3,48}$/, 'must be 3-48 characters of a-z, 0-9 and -'))
const orgName = z.string().trim().min(1, 'is required').max(100)
const permissionList = z.array(z.string().regex(PERMISSION, 'must be resource:action or resource:*')).max(50)
const orgParam = z.object({
  org: z
    .string()
    .max(64)
    .openapi({ param: { name: 'org', in: 'path' }, description: 'The id or the slug' }),
})
const memberParam = orgParam.extend({
  user_id: z
    .string()
    .max(64)
    .openapi({ param: { name: 'user_id', in: 'path' } }),
})
const roleParam = orgParam.extend({
  name: z
    .string()
    .max(64)
    .openapi({ param: { name: 'name', in: 'path' } }),
})
const roleSchema = z.object({ name: z.string(), permissions: z.array(z.string()), built_in: z.boolean() }).openapi('OrganizationRole')

const orgView = (org: OrganizationRow) => ({ id: org.id, slug: org.slug, name: org.name, created_at: org.createdAt.toISOString() })
const signedOut = { 401: ['unauthorized' as const] }
const memberOnly = { 401: ['unauthorized' as const], 404: ['not_found' as const] }
const permissionNeeded = { 401: ['unauthorized' as const], 403: ['forbidden' as const], 404: ['not_found' as const] }
const tags = ['organizations']

const createOrgRoute = createRoute({
  method: 'post',
  path: '/',
  operationId: 'createOrganization',
  tags,
  summary: 'Create an organization; you are its owner',
  description: "Spends the account's PROFILE_CHANGES_PER_HOUR budget.",
  security: bearerAuth,
  request: { body: jsonRequest(z.object({ slug, name: orgName }).openapi('CreateOrganizationRequest')) },
  responses: {
    201: jsonResponse(z.object({ organization: organizationSchema, membership: membershipSchema }), 'The organization'),
    ...bodyProblems({ 400: ['validation_failed'], ...signedOut, 409: ['slug_taken'], 429: ['rate_limited'] }),
  },
})

const createOrg: RouteHandler<typeof createOrgRoute, AppEnv> = async (c) => {
  const { slug: wanted, name } = c.req.valid('json')
  const admission = await c.var.limiter.admitProfileChange(c.var.user.id)
  if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)
  const now = c.var.signIn.now
  const created = await createOrganization(c.var.db, {
    org: { id: uuidv7(now.getTime()), slug: wanted, name },
    userId: c.var.user.id,
    client: c.var.client,
    now,
  })
  if (created === 'slug_taken') throw problem('slug_taken')
  return c.json({ organization: orgView(created), membership: { roles: ['owner'] } }, 201)
}

const listMyOrgsRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listMyOrganizations',
  tags,
  summary: 'The organizations you belong to, with your roles in each',
  security: bearerAuth,
  responses: {
    200: jsonResponse(z.object({ organizations: z.array(organizationSchema.extend({ roles: z.array(z.string()) })) }), 'Yours'),
    ...problems(signedOut),
  },
})

const listMyOrgs: RouteHandler<typeof listMyOrgsRoute, AppEnv> = async (c) => {
  const rows = await listOrganizationsOf(c.var.db, c.var.user.id)
  return c.json({ organizations: rows.map((row) => ({ ...orgView(row.org), roles: row.roles })) }, 200)
}

const getOrgRoute = createRoute({
  method: 'get',
  path: '/{org}',
  operationId: 'getOrganization',
  tags,
  summary: 'One organization you belong to, with your roles and permissions in it',
  security: bearerAuth,
  middleware: [requireOrg()] as const,
  request: { params: orgParam },
  responses: {
    200: jsonResponse(
      z.object({ organization: organizationSchema, membership: membershipSchema.extend({ permissions: z.array(z.string()) }) }),
      'The organization',
    ),
    ...problems(memberOnly),
  },
})

const getOrg: RouteHandler<typeof getOrgRoute, AppEnv> = async (c) => {
  const { org, roles, permissions } = c.var.org
  return c.json({ organization: orgView(org), membership: { roles, permissions: [...permissions].sort() } }, 200)
}

const updateOrgRoute = createRoute({
  method: 'patch',
  path: '/{org}',
  operationId: 'updateOrganization',
  tags,
  summary: "Change an organization's name or slug",
  description: 'Needs organization:update and a recent proof.',
  security: bearerAuth,
  middleware: [requireOrg('organization:update')] as const,
  request: {
    params: orgParam,
    body: jsonRequest(z.object({ name: orgName.optional(), slug: slug.optional() }).openapi('UpdateOrganizationRequest')),
  },
  responses: {
    200: jsonResponse(z.object({ organization: organizationSchema }), 'The organization'),
    ...bodyProblems({
      400: ['validation_failed'],
      401: ['unauthorized'],
      403: ['forbidden', 'reauthentication_required'],
      404: ['not_found'],
      409: ['slug_taken'],
    }),
  },
})

const updateOrg: RouteHandler<typeof updateOrgRoute, AppEnv> = async (c) => {
  const change = c.req.valid('json')
  await requireRecentProof(c.var.signIn, signedIn(c))
  const updated = await updateOrganization(c.var.db, {
    orgId: c.var.org.org.id,
    change,
    actorId: c.var.user.id,
    client: c.var.client,
    now: c.var.signIn.now,
  })
  if (updated === 'slug_taken') throw problem('slug_taken')
  if (!updated) throw problem('not_found')
  return c.json({ organization: orgView(updated) }, 200)
}

const deleteOrgRoute = createRoute({
  method: 'delete',
  path: '/{org}',
  operationId: 'deleteOrganization',
  tags,
  summary: 'Delete an organization, with its members, roles and invitations',
  description: 'Needs organization:delete and a recent proof.',
  security: bearerAuth,
  middleware: [requireOrg('organization:delete')] as const,
  request: { params: orgParam },
  responses: {
    204: { description: 'Deleted' },
    ...problems({ 401: ['unauthorized'], 403: ['forbidden', 'reauthentication_required'], 404: ['not_found'] }),
  },
})

const deleteOrg: RouteHandler<typeof deleteOrgRoute, AppEnv> = async (c) => {
  await requireRecentProof(c.var.signIn, signedIn(c))
  await deleteOrganization(c.var.db, { orgId: c.var.org.org.id, actorId: c.var.user.id, client: c.var.client, now: c.var.signIn.now })
  return c.body(null, 204)
}

const memberSchema = z
  .object({ user_id: z.string(), username: z.string(), email: z.string(), roles: z.array(z.string()), joined_at: z.iso.datetime() })
  .openapi('OrganizationMember')

const listMembersRoute = createRoute({
  method: 'get',
  path: '/{org}/members',
  operationId: 'listOrganizationMembers',
  tags,
  summary: "An organization's members, a page at a time",
  security: bearerAuth,
  middleware: [requireOrg()] as const,
  request: { params: orgParam, query: z.object({ limit: limitParam(50), cursor: cursorParam.optional() }) },
  responses: {
    200: jsonResponse(z.object({ members: z.array(memberSchema), next_cursor: z.string().nullable() }), 'A page of members'),
    ...problems({ 400: ['validation_failed'], ...memberOnly }),
  },
})

const listMembersHandler: RouteHandler<typeof listMembersRoute, AppEnv> = async (c) => {
  const { limit, cursor } = c.req.valid('query')
  const rows = await listMembers(c.var.db, { orgId: c.var.org.org.id, limit: limit + 1, after: cursor })
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  return c.json(
    {
      members: items.map((row) => ({
        user_id: row.userId,
        username: row.username,
        email: row.email,
        roles: row.roles,
        joined_at: row.joinedAt.toISOString(),
      })),
      next_cursor: rows.length > limit && last ? encodeCursor(last.userId) : null,
    },
    200,
  )
}

const updateMemberRoute = createRoute({
  method: 'patch',
  path: '/{org}/members/{user_id}',
  operationId: 'updateOrganizationMember',
  tags,
  summary: "Change a member's roles",
  description: 'Needs member:update; only an owner gives or takes `owner`. The last owner keeps it (409 last_owner).',
  security: bearerAuth,
  middleware: [requireOrg('member:update')] as const,
  request: { params: memberParam, body: jsonRequest(z.object({ roles: roleNames }).openapi('UpdateOrganizationMemberRequest')) },
  responses: {
    200: jsonResponse(z.object({ user_id: z.string(), roles: z.array(z.string()) }), 'The member'),
    ...bodyProblems({ 400: ['validation_failed'], ...permissionNeeded, 409: ['last_owner'] }),
  },
})

const updateMember: RouteHandler<typeof updateMemberRoute, AppEnv> = async (c) => {
  const { user_id: userId } = c.req.valid('param')
  const roles = [...new Set(c.req.valid('json').roles)]
  const orgId = c.var.org.org.id
  const before = await memberRoles(c.var.db, orgId, userId)
  if (!before) throw problem('not_found')
  await checkRolesGiven(c.var.signIn, c.var.org, roles)
  if (before.includes('owner') && !roles.includes('owner') && !c.var.org.roles.includes('owner'))
    throw problem('forbidden', { context: 'Only an owner takes owner away.' })
  const result = await setMemberRoles(c.var.db, {
    orgId,
    userId,
    roles,
    actorId: c.var.user.id,
    client: c.var.client,
    now: c.var.signIn.now,
  })
  if (result === 'not_member') throw problem('not_found')
  if (result === 'last_owner') throw problem('last_owner')
  return c.json({ user_id: userId, roles }, 200)
}

const removeMemberRoute = createRoute({
  method: 'delete',
  path: '/{org}/members/{user_id}',
  operationId: 'removeOrganizationMember',
  tags,
  summary: 'Remove a member, or leave',
  description:
    'Needs member:remove, unless it is your own membership; only an owner removes an owner; the last owner stays (409 last_owner).',
  security: bearerAuth,
  middleware: [requireOrg()] as const,
  request: { params: memberParam },
  responses: { 204: { description: 'Removed' }, ...problems({ ...permissionNeeded, 409: ['last_owner'] }) },
})

const removeMemberHandler: RouteHandler<typeof removeMemberRoute, AppEnv> = async (c) => {
  const { user_id: userId } = c.req.valid('param')
  const orgId = c.var.org.org.id
  if (userId !== c.var.user.id) {
    demand(c.var.org, 'member:remove')
    const roles = await memberRoles(c.var.db, orgId, userId)
    if (!roles) throw problem('not_found')
    if (roles.includes('owner') && !c.var.org.roles.includes('owner'))
      throw problem('forbidden', { context: 'Only an owner removes an owner.' })
  }
  const result = await removeMember(c.var.db, { orgId, userId, actorId: c.var.user.id, client: c.var.client, now: c.var.signIn.now })
  if (result === 'not_member') throw problem('not_found')
  if (result === 'last_owner') throw problem('last_owner')
  return c.body(null, 204)
}

const listRolesRoute = createRoute({
  method: 'get',
  path: '/{org}/roles',
  operationId: 'listOrganizationRoles',
  tags,
  summary: "The organization's roles: the built-in ones and its own",
  security: bearerAuth,
  middleware: [requireOrg()] as const,
  request: { params: orgParam },
  responses: { 200: jsonResponse(z.object({ roles: z.array(roleSchema) }), 'The roles'), ...problems(memberOnly) },
})

const listRolesHandler: RouteHandler<typeof listRolesRoute, AppEnv> = async (c) => {
  const own = await listRoles(c.var.db, c.var.org.org.id)
  const builtIn = (['owner', 'admin', 'member'] as const).map(async (name) => ({
    name,
    permissions: [...(await permissionsIn(c.var.signIn, c.var.org.org.id, [name]))],
    built_in: true,
  }))
  return c.json(
    {
      roles: [...(await Promise.all(builtIn)), ...own.map((role) => ({ name: role.name, permissions: role.permissions, built_in: false }))],
    },
    200,
  )
}

const roleBody = z.object({
  name: z.string().regex(ROLE_NAME, 'must be 1-32 characters of a-z, 0-9, _ and -, starting with a letter'),
  permissions: permissionList,
})

const defineRoleRoute = createRoute({
  method: 'post',
  path: '/{org}/roles',
  operationId: 'defineOrganizationRole',
  tags,
  summary: 'Define a role of the organization',
  description: 'Needs role:manage. Permissions are resource:action or resource:*; a built-in name is refused.',
  security: bearerAuth,
  middleware: [requireOrg('role:manage')] as const,
  request: { params: orgParam, body: jsonRequest(roleBody.openapi('DefineOrganizationRoleRequest')) },
  responses: {
    201: jsonResponse(z.object({ role: roleSchema }), 'The role'),
    ...bodyProblems({ 400: ['validation_failed'], ...permissionNeeded, 409: ['role_exists'] }),
  },
})

const defineRoleHandler: RouteHandler<typeof defineRoleRoute, AppEnv> = async (c) => {
  const { name, permissions } = c.req.valid('json')
  if (isBuiltInRole(name)) throw validationFailed([{ path: 'name', message: 'is a built-in role' }])
  const unique = [...new Set(permissions)]
  demandCovered(c.var.org, unique)
  const result = await defineRole(c.var.db, {
    orgId: c.var.org.org.id,
    name,
    permissions: unique,
    actorId: c.var.user.id,
    client: c.var.client,
    now: c.var.signIn.now,
  })
  if (result === 'role_exists') throw problem('role_exists')
  return c.json({ role: { name, permissions: unique, built_in: false } }, 201)
}

const changeRoleRoute = createRoute({
  method: 'patch',
  path: '/{org}/roles/{name}',
  operationId: 'changeOrganizationRole',
  tags,
  summary: "Change a role's permissions",
  description: 'Needs role:manage. Members holding the role have the new permissions on their next request.',
  security: bearerAuth,
  middleware: [requireOrg('role:manage')] as const,
  request: { params: roleParam, body: jsonRequest(z.object({ permissions: permissionList }).openapi('ChangeOrganizationRoleRequest')) },
  responses: {
    200: jsonResponse(z.object({ role: roleSchema }), 'The role'),
    ...bodyProblems({ 400: ['validation_failed'], ...permissionNeeded }),
  },
})

const changeRoleHandler: RouteHandler<typeof changeRoleRoute, AppEnv> = async (c) => {
  const { name } = c.req.valid('param')
  if (isBuiltInRole(name)) throw validationFailed([{ path: 'name', message: 'is a built-in role, whose permissions are fixed' }])
  const permissions = [...new Set(c.req.valid('json').permissions)]
  demandCovered(c.var.org, permissions)
  const updated = await changeRole(c.var.db, {
    orgId: c.var.org.org.id,
    name,
    permissions,
    actorId: c.var.user.id,
    client: c.var.client,
    now: c.var.signIn.now,
  })
  if (!updated) throw problem('not_found')
  return c.json({ role: { name, permissions: updated.permissions, built_in: false } }, 200)
}

const removeRoleRoute = createRoute({
  method: 'delete',
  path: '/{org}/roles/{name}',
  operationId: 'removeOrganizationRole',
  tags,
  summary: 'Remove a role no member or open invitation holds',
  security: bearerAuth,
  middleware: [requireOrg('role:manage')] as const,
  request: { params: roleParam },
  responses: { 204: { description: 'Removed' }, ...problems({ 400: ['validation_failed'], ...permissionNeeded, 409: ['role_in_use'] }) },
})

const removeRoleHandler: RouteHandler<typeof removeRoleRoute, AppEnv> = async (c) => {
  const { name } = c.req.valid('param')
  if (isBuiltInRole(name)) throw validationFailed([{ path: 'name', message: 'is a built-in role' }])
  const result = await removeRole(c.var.db, {
    orgId: c.var.org.org.id,
    name,
    actorId: c.var.user.id,
    client: c.var.client,
    now: c.var.signIn.now,
  })
  if (result === 'not_found') throw problem('not_found')
  if (result === 'role_in_use') throw problem('role_in_use')
  return c.body(null, 204)
}

const checkRoute = createRoute({
  method: 'post',
  path: '/{org}/permissions/check',
  operationId: 'checkOrganizationPermissions',
  tags,
  summary: 'Whether you (or another member) hold these permissions in the organization',
  description:
    "Read from the membership on this request, never from a token: the answer for a member removed or a role changed a moment ago is already the new one. Another member's needs member:update.",
  security: bearerAuth,
  middleware: [requireOrg()] as const,
  request: {
    params: orgParam,
    body: jsonRequest(z.object({ permissions: permissionList, user_id: z.string().max(64).optional() }).openapi('PermissionCheckRequest')),
  },
  responses: {
    200: jsonResponse(z.object({ allowed: z.boolean(), missing: z.array(z.string()) }).openapi('PermissionCheck'), 'The verdict'),
    ...bodyProblems({ 400: ['validation_failed'], ...permissionNeeded }),
  },
})

const checkHandler: RouteHandler<typeof checkRoute, AppEnv> = async (c) => {
  const { permissions, user_id: userId } = c.req.valid('json')
  let held = c.var.org.permissions
  if (userId !== undefined && userId !== c.var.user.id) {
    demand(c.var.org, 'member:update')
    const roles = await memberRoles(c.var.db, c.var.org.org.id, userId)
    if (!roles) throw problem('not_found')
    held = await permissionsIn(c.var.signIn, c.var.org.org.id, roles)
  }
  const missing = missingFrom(held, permissions)
  return c.json({ allowed: missing.length === 0, missing }, 200)
}

const orgAuditRoute = createRoute({
  method: 'get',
  path: '/{org}/audit',
  operationId: 'listOrganizationAuditEvents',
  tags,
  summary: "The organization's events, newest first",
  description: 'Needs audit:read. Only events of this organization.',
  security: bearerAuth,
  middleware: [requireOrg('audit:read')] as const,
  request: {
    params: orgParam,
    query: z.object({ limit: limitParam(50), cursor: cursorParam.optional(), action: z.enum(AUDIT_ACTIONS).optional() }),
  },
  responses: {
    200: jsonResponse(z.object({ events: z.array(auditEventSchema), next_cursor: z.string().nullable() }), 'A page of events'),
    ...problems({ 400: ['validation_failed'], ...permissionNeeded }),
  },
})

const orgAudit: RouteHandler<typeof orgAuditRoute, AppEnv> = async (c) => {
  const { limit, cursor, action } = c.req.valid('query')
  const rows = await listOrgAuditEvents(c.var.db, { orgId: c.var.org.org.id, limit: limit + 1, before: cursor, action })
  const { items, nextCursor } = page(rows, limit)
  return c.json({ events: items.map(auditEventView), next_cursor: nextCursor }, 200)
}

const activeOrgRoute = createRoute({
  method: 'put',
  path: '/',
  operationId: 'setActiveOrganization',
  tags,
  summary: 'Work in an organization (or in none): a new access token carrying it',
  description:
    'The token carries org_id, org_slug and org_roles for display and routing only; every permission is read from the membership. A refresh keeps them while you are a member, and drops them once you are not.',
  security: bearerAuth,
  request: { body: jsonRequest(z.object({ org: z.string().max(64).nullable() }).openapi('ActiveOrganizationRequest')) },
  responses: {
    200: jsonResponse(
      z
        .object({ access_token: z.string(), token_type: z.literal('Bearer'), expires_in: z.number().int() })
        .openapi('ActiveOrganizationToken'),
      'A new access token',
    ),
    ...bodyProblems({ 400: ['validation_failed'], ...memberOnly }),
  },
})

const setActiveOrg: RouteHandler<typeof activeOrgRoute, AppEnv> = async (c) => {
  const { org } = c.req.valid('json')
  const { session, user } = c.var
  const access = org === null ? undefined : await orgAccess(c.var.signIn, org, user.id)
  await setActiveOrganization(c.var.db, { sessionId: session.id, orgId: access?.org.id ?? null })
  const organization = access ? await activeOrganizationOf(c.var.db, { orgId: access.org.id, userId: user.id }) : undefined
  const token = await accessTokenFor(c.var.config, user, { ...session, organization: organization ?? undefined }, c.var.signIn.now)
  return c.json({ access_token: token, token_type: 'Bearer' as const, expires_in: c.var.config.accessTokenTtlSeconds }, 200)
}

const adminListRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'adminListOrganizations',
  tags: ['admin'],
  summary: 'Every organization (site admins), oldest first',
  description: 'A site admin sees organizations here but acts in one only as its members do.',
  security: bearerAuth,
  middleware: [requirePermission('users:manage')] as const,
  request: { query: z.object({ limit: limitParam(50), cursor: cursorParam.optional() }) },
  responses: {
    200: jsonResponse(
      z.object({ organizations: z.array(organizationSchema), next_cursor: z.string().nullable() }),
      'A page of organizations',
    ),
    ...problems({ 400: ['validation_failed'], 401: ['unauthorized'], 403: ['forbidden'] }),
  },
})

const adminList: RouteHandler<typeof adminListRoute, AppEnv> = async (c) => {
  const { limit, cursor } = c.req.valid('query')
  const rows = await listAllOrganizations(c.var.db, { limit: limit + 1, after: cursor })
  const { items, nextCursor } = page(rows, limit)
  return c.json({ organizations: items.map(orgView), next_cursor: nextCursor }, 200)
}

// Invitations: the token is made by the mail consumer, like every mailed token (the request stores
// a placeholder hash nobody holds); accepting needs the signed-in account whose VERIFIED address is the invited one.

const invitationSchema = z
  .object({ id: z.string(), email: z.string(), roles: z.array(z.string()), expires_at: z.iso.datetime() })
  .openapi('Invitation')
const invitationView = (row: OrgInvitationRow) => ({
  id: row.id,
  email: row.email,
  roles: row.roles,
  expires_at: row.expiresAt.toISOString(),
})

const inviteRoute = createRoute({
  method: 'post',
  path: '/{org}/invitations',
  operationId: 'inviteToOrganization',
  tags,
  summary: 'Invite an address to the organization, with roles',
  description: 'Needs member:invite (and owner to invite an owner). The mail carries {APP_URL}/accept-invitation#token=….',
  security: bearerAuth,
  middleware: [requireOrg('member:invite')] as const,
  request: {
    params: orgParam,
    body: jsonRequest(
      z
        .object({ email: emailField, roles: z.array(z.string().regex(ROLE_NAME, 'must be a role name')).min(1).max(10) })
        .openapi('InvitationRequest'),
    ),
  },
  responses: {
    201: jsonResponse(z.object({ invitation: invitationSchema }), 'The invitation'),
    ...bodyProblems({ 400: ['validation_failed'], ...permissionNeeded, 409: ['already_member'] }),
  },
})

const invite: RouteHandler<typeof inviteRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const email = normaliseEmail(body.email)
  const roles = [...new Set(body.roles)]
  const orgId = c.var.org.org.id
  await checkRolesGiven(c.var.signIn, c.var.org, roles)
  // Each invitation mails an address the inviter chose: budgeted like a profile change.
  const admission = await c.var.limiter.admitProfileChange(c.var.user.id)
  if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)
  if (await isMemberByEmail(c.var.db, orgId, email)) throw problem('already_member')
  const now = c.var.signIn.now
  const invitation = await createInvitation(c.var.db, {
    invitation: {
      id: uuidv7(now.getTime()),
      orgId,
      email,
      roles,
      // A hash of a token nobody holds, until the mail consumer makes the one it sends.
      tokenHash: await hashOpaqueToken(newOpaqueToken()),
      invitedBy: c.var.user.id,
      createdAt: now,
      expiresAt: new Date(now.getTime() + c.var.config.invitationTtlSeconds * 1000),
    },
    client: c.var.client,
    now,
  })
  await enqueueAfterWrite(c.env.MAIL_QUEUE, [{ kind: 'org_invitation', invitationId: invitation.id }], c.var.requestId)
  return c.json({ invitation: invitationView(invitation) }, 201)
}

const listInvitationsRoute = createRoute({
  method: 'get',
  path: '/{org}/invitations',
  operationId: 'listOrganizationInvitations',
  tags,
  summary: "The organization's open invitations",
  security: bearerAuth,
  middleware: [requireOrg('member:invite')] as const,
  request: { params: orgParam },
  responses: { 200: jsonResponse(z.object({ invitations: z.array(invitationSchema) }), 'Open invitations'), ...problems(permissionNeeded) },
})

const listInvitations: RouteHandler<typeof listInvitationsRoute, AppEnv> = async (c) => {
  const rows = await listOpenInvitations(c.var.db, c.var.org.org.id, c.var.signIn.now)
  return c.json({ invitations: rows.map(invitationView) }, 200)
}

const revokeInvitationRoute = createRoute({
  method: 'delete',
  path: '/{org}/invitations/{id}',
  operationId: 'revokeOrganizationInvitation',
  tags,
  summary: 'Revoke an open invitation: its link stops working',
  security: bearerAuth,
  middleware: [requireOrg('member:invite')] as const,
  request: {
    params: orgParam.extend({
      id: z
        .string()
        .max(64)
        .openapi({ param: { name: 'id', in: 'path' } }),
    }),
  },
  responses: { 204: { description: 'Revoked' }, ...problems(permissionNeeded) },
})

const revokeInvitationHandler: RouteHandler<typeof revokeInvitationRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param')
  const revoked = await revokeInvitation(c.var.db, {
    orgId: c.var.org.org.id,
    id,
    actorId: c.var.user.id,
    client: c.var.client,
    now: c.var.signIn.now,
  })
  if (!revoked) throw problem('not_found')
  return c.body(null, 204)
}

const acceptRoute = createRoute({
  method: 'post',
  path: '/accept',
  operationId: 'acceptInvitation',
  tags,
  summary: 'Accept an invitation from its mail',
  description: "The signed-in account's verified address must be the invited one (403 invitation_email_mismatch otherwise).",
  security: bearerAuth,
  request: { body: jsonRequest(z.object({ token: z.string().min(1).max(128) }).openapi('AcceptInvitationRequest')) },
  responses: {
    200: jsonResponse(
      z.object({
        organization: z.object({ id: z.string(), slug: z.string(), name: z.string(), created_at: z.iso.datetime() }),
        membership: z.object({ roles: z.array(z.string()) }),
      }),
      'The organization joined',
    ),
    ...bodyProblems({ 400: ['validation_failed', 'invalid_token'], 401: ['unauthorized'], 403: ['invitation_email_mismatch'] }),
  },
})

const accept: RouteHandler<typeof acceptRoute, AppEnv> = async (c) => {
  const { org, roles } = await acceptInvitationToken(c.var.signIn, c.var.user, c.req.valid('json').token)
  return c.json(
    { organization: { id: org.id, slug: org.slug, name: org.name, created_at: org.createdAt.toISOString() }, membership: { roles } },
    200,
  )
}

const members = createRouter()
members.use(requireAuth())

/** Organizations, their members, roles, permission check and audit. Mounted at /api/v1/orgs. */
export const orgRoutes = members
  .openapi(createOrgRoute, createOrg)
  .openapi(listMyOrgsRoute, listMyOrgs)
  .openapi(getOrgRoute, getOrg)
  .openapi(updateOrgRoute, updateOrg)
  .openapi(deleteOrgRoute, deleteOrg)
  .openapi(listMembersRoute, listMembersHandler)
  .openapi(updateMemberRoute, updateMember)
  .openapi(removeMemberRoute, removeMemberHandler)
  .openapi(listRolesRoute, listRolesHandler)
  .openapi(defineRoleRoute, defineRoleHandler)
  .openapi(changeRoleRoute, changeRoleHandler)
  .openapi(removeRoleRoute, removeRoleHandler)
  .openapi(checkRoute, checkHandler)
  .openapi(orgAuditRoute, orgAudit)
  .openapi(inviteRoute, invite)
  .openapi(listInvitationsRoute, listInvitations)
  .openapi(revokeInvitationRoute, revokeInvitationHandler)

const working = createRouter()
working.use(requireAuth())

/** The organization a session works in. Mounted at /api/v1/users/me/active-organization. */
export const activeOrgRoutes = working.openapi(activeOrgRoute, setActiveOrg)

const siteAdmins = createRouter()
siteAdmins.use(requireAuth())

/** Every organization, for site admins. Mounted at /api/v1/admin/orgs. */
export const adminOrgRoutes = siteAdmins.openapi(adminListRoute, adminList)

const invitees = createRouter()
invitees.use(requireAuth())

/** Accepting an invitation. Mounted at /api/v1/invitations. */
export const invitationRoutes = invitees.openapi(acceptRoute, accept)
