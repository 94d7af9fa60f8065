import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { can, ROLES } from '../auth/roles'
import { AUDIT_ACTIONS, listAuditEvents, recordEvent } from '../db/audit'
import { resetSecondFactors } from '../db/factors'
import { changeRoleOrStatus, removeAccount } from '../db/last-admin'
import type { UserRow } from '../db/schema'
import { endAllSessions } from '../db/sessions'
import { findUserById, listUsers } from '../db/users'
import { problem } from '../errors'
import { createRouter } from '../http/router'
import { signedIn } from '../http/signed-in'
import { requireAuth } from '../middleware/require-auth'
import { requirePermission } from '../middleware/require-permission'
import { accountSubject } from '../rate-limit/client'
import { auditEventSchema } from '../schemas/audit'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { cursorParam, limitParam, page } from '../schemas/pagination'
import { bodyProblems, problems } from '../schemas/problem'
import { userSchema } from '../schemas/user'
import { requireRecentProof } from '../sign-in/recent-proof'
import { auditEventView } from '../views/audit-event'
import { staffUserView } from '../views/user'

const denied = { 401: ['unauthorized' as const], 403: ['forbidden' as const] }
/** A staff write on an account also needs the caller's own recent proof. */
const deniedOrStale = { 401: ['unauthorized' as const], 403: ['forbidden' as const, 'reauthentication_required' as const] }

const adminUserSchema = userSchema.extend({ disabled: z.boolean(), last_login_at: z.iso.datetime().nullable() }).openapi('AdminUser')

const userIdParam = z.object({ id: z.string().max(64).openapi({ description: 'User id' }) })

/** A moderator may act only on `user` accounts; an admin on any. */
const limitedToUserAccounts = (c: Context<AppEnv>) => !can(c.var.user.role, 'users:manage')

async function findTarget(c: Context<AppEnv>, id: string): Promise<UserRow> {
  const target = await findUserById(c.var.db, id)
  if (!target) throw problem('not_found')
  if (limitedToUserAccounts(c) && target.role !== 'user') {
    throw problem('forbidden')
  }
  return target
}

const listUsersParams = z.object({
  limit: limitParam(50),
  cursor: cursorParam.optional(),
  q: z.string().trim().min(1).max(254).optional().openapi({ description: 'Case-insensitive prefix of a username or an email' }),
  role: z.enum(ROLES).optional(),
  disabled: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .transform((value) => value === 'true')
    .optional()
    .openapi({ type: 'string', enum: ['true', 'false'] }),
})

const listAccountsRoute = createRoute({
  method: 'get',
  path: '/users',
  operationId: 'listUsers',
  tags: ['admin'],
  summary: 'List users, oldest first',
  description: 'Keyset-paginated: pass `next_cursor` back as `cursor` until it is null. Moderators and admins.',
  security: bearerAuth,
  middleware: [requirePermission('users:read')] as const,
  request: { query: listUsersParams },
  responses: {
    200: jsonResponse(z.object({ users: z.array(adminUserSchema), next_cursor: z.string().nullable() }), 'A page of users'),
    ...problems({ 400: ['validation_failed'], ...denied }),
  },
})

const listAccounts: RouteHandler<typeof listAccountsRoute, AppEnv> = async (c) => {
  const { limit, cursor, q, role, disabled } = c.req.valid('query')
  const rows = await listUsers(c.var.db, { limit: limit + 1, after: cursor, prefix: q?.toLowerCase(), role, disabled })
  const { items, nextCursor } = page(rows, limit)
  return c.json({ users: items.map(staffUserView), next_cursor: nextCursor }, 200)
}

const getUserRoute = createRoute({
  method: 'get',
  path: '/users/{id}',
  operationId: 'getUser',
  tags: ['admin'],
  summary: 'One user',
  security: bearerAuth,
  middleware: [requirePermission('users:read')] as const,
  request: { params: userIdParam },
  responses: { 200: jsonResponse(z.object({ user: adminUserSchema }), 'The user'), ...problems({ ...denied, 404: ['not_found'] }) },
})

const getUser: RouteHandler<typeof getUserRoute, AppEnv> = async (c) => {
  const user = await findUserById(c.var.db, c.req.valid('param').id)
  if (!user) throw problem('not_found')
  return c.json({ user: staffUserView(user) }, 200)
}

const updateUserBody = z
  .object({
    role: z.enum(ROLES).optional().openapi({ description: 'Admins only' }),
    disabled: z.boolean().optional().openapi({ description: 'Disabling ends every session of the account' }),
  })
  .openapi('AdminUpdateUserRequest')

const updateUserRoute = createRoute({
  method: 'patch',
  path: '/users/{id}',
  operationId: 'updateUser',
  tags: ['admin'],
  summary: 'Change a role, or disable or enable an account',
  description:
    'Moderators may disable and enable `user` accounts; admins may change anything. A staff write: it needs the caller’s own recent proof (aal2 when the caller has a second factor). No change may leave zero enabled admins (409 last_admin).',
  security: bearerAuth,
  middleware: [requirePermission('users:disable')] as const,
  request: { params: userIdParam, body: jsonRequest(updateUserBody) },
  responses: {
    200: jsonResponse(z.object({ user: adminUserSchema }), 'The updated user'),
    ...bodyProblems({ 400: ['validation_failed'], ...deniedOrStale, 404: ['not_found'], 409: ['last_admin'] }),
  },
})

const updateUser: RouteHandler<typeof updateUserRoute, AppEnv> = async (c) => {
  const change = c.req.valid('json')
  const { id } = c.req.valid('param')
  if (change.role !== undefined && !can(c.var.user.role, 'users:manage')) {
    throw problem('forbidden')
  }
  const target = await findTarget(c, id)
  await requireRecentProof(c.var.signIn, signedIn(c))
  const updated = await changeRoleOrStatus(c.var.db, {
    target,
    change,
    actor: { id: c.var.user.id, onlyUserAccounts: limitedToUserAccounts(c) },
    client: c.var.client,
    now: new Date(),
  })
  if (!updated) {
    // The guard refused inside the write; find out which rule, reading the row as it is now.
    await findTarget(c, id)
    throw problem('last_admin')
  }
  return c.json({ user: staffUserView(updated) }, 200)
}

const deleteUserRoute = createRoute({
  method: 'delete',
  path: '/users/{id}',
  operationId: 'deleteUser',
  tags: ['admin'],
  summary: 'Delete a user and every session',
  description: 'A staff write: it needs the caller’s own recent proof (aal2 when the caller has a second factor).',
  security: bearerAuth,
  middleware: [requirePermission('users:manage')] as const,
  request: { params: userIdParam },
  responses: { 204: { description: 'Deleted' }, ...problems({ ...deniedOrStale, 404: ['not_found'], 409: ['last_admin', 'last_owner'] }) },
})

const deleteUser: RouteHandler<typeof deleteUserRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param')
  const target = await findTarget(c, id)
  await requireRecentProof(c.var.signIn, signedIn(c))
  const outcome = await removeAccount(c.var.db, {
    targetId: target.id,
    event: { action: 'admin.user_deleted', actorId: c.var.user.id, targetId: target.id, details: { username: target.username } },
    actor: { id: c.var.user.id, onlyUserAccounts: false },
    client: c.var.client,
    now: new Date(),
  })
  if (outcome === 'not_found') throw problem('not_found')
  if (outcome === 'last_owner') throw problem('last_owner')
  if (outcome !== 'removed') throw problem('last_admin')
  // The account is gone: so is its failure streak (or lock) at the limiter.
  await c.var.limiter.resetLoginFailures(accountSubject(target.id))
  return c.body(null, 204)
}

const resetUserMfaRoute = createRoute({
  method: 'delete',
  path: '/users/{id}/mfa',
  operationId: 'resetUserMfa',
  tags: ['admin'],
  summary: "Remove a user's second factors (a lost device)",
  description:
    'For a user who lost their authenticator, their passkeys and their recovery codes: the TOTP factor, the recovery codes and the passkeys go, and every session ends. Audited as admin.mfa_reset with counts. Admins only, with their own recent proof (aal2 when they have a second factor), and never on their own account (403 forbidden: one’s own factors are self-service).',
  security: bearerAuth,
  middleware: [requirePermission('users:manage')] as const,
  request: { params: userIdParam },
  responses: { 204: { description: 'Removed' }, ...problems({ ...deniedOrStale, 404: ['not_found'] }) },
})

const resetUserMfa: RouteHandler<typeof resetUserMfaRoute, AppEnv> = async (c) => {
  const target = await findTarget(c, c.req.valid('param').id)
  const { db, user, client } = c.var
  // A support reset is for someone else's lost device: on one's own account it would let a stolen
  // admin token strip the factors that guard that very account.
  if (target.id === user.id) throw problem('forbidden', { context: 'Manage your own second factors under /users/me.' })
  await requireRecentProof(c.var.signIn, signedIn(c))
  await resetSecondFactors(db, { userId: target.id, actorId: user.id, client, now: new Date() })
  return c.body(null, 204)
}

const endUserSessionsRoute = createRoute({
  method: 'delete',
  path: '/users/{id}/sessions',
  operationId: 'endUserSessions',
  tags: ['admin'],
  summary: "End every one of a user's sessions",
  security: bearerAuth,
  middleware: [requirePermission('users:disable')] as const,
  request: { params: userIdParam },
  responses: { 204: { description: 'Revoked' }, ...problems({ ...denied, 404: ['not_found'] }) },
})

const endUserSessions: RouteHandler<typeof endUserSessionsRoute, AppEnv> = async (c) => {
  const target = await findTarget(c, c.req.valid('param').id)
  const { db, user, client } = c.var
  await endAllSessions(db, { userId: target.id, actorId: user.id, client, now: new Date() })
  return c.body(null, 204)
}

const unlockUserRoute = createRoute({
  method: 'post',
  path: '/users/{id}/unlock',
  operationId: 'unlockUser',
  tags: ['admin'],
  summary: "Clear an account's login backoff and lock",
  description:
    'The only way to lift the lock that 100 consecutive failures put on a login (enabling an account does not). Audited as admin.login_unlocked. Moderators: `user` accounts only. A staff write: it needs the caller’s own recent proof.',
  security: bearerAuth,
  middleware: [requirePermission('users:disable')] as const,
  request: { params: userIdParam },
  responses: { 204: { description: 'Unlocked' }, ...problems({ ...deniedOrStale, 404: ['not_found'] }) },
})

const unlockUser: RouteHandler<typeof unlockUserRoute, AppEnv> = async (c) => {
  const target = await findTarget(c, c.req.valid('param').id)
  await requireRecentProof(c.var.signIn, signedIn(c))
  const { db, user, client } = c.var
  // Recorded first: an unlock that happened is never missing from the log.
  await recordEvent(db, { action: 'admin.login_unlocked', actorId: user.id, targetId: target.id }, client, new Date())
  await c.var.limiter.resetLoginFailures(accountSubject(target.id))
  return c.body(null, 204)
}

const listAuditParams = z.object({
  limit: limitParam(50),
  cursor: cursorParam.optional(),
  user_id: z.string().max(64).optional().openapi({ description: 'Events where this user is the actor or the target' }),
  action: z.enum(AUDIT_ACTIONS).optional(),
})

const listAuditRoute = createRoute({
  method: 'get',
  path: '/audit',
  operationId: 'listAuditEvents',
  tags: ['admin'],
  summary: 'The audit log, newest first',
  description: 'Keyset-paginated like the user list. Admins only.',
  security: bearerAuth,
  middleware: [requirePermission('audit:read')] as const,
  request: { query: listAuditParams },
  responses: {
    200: jsonResponse(z.object({ events: z.array(auditEventSchema), next_cursor: z.string().nullable() }), 'A page of events'),
    ...problems({ 400: ['validation_failed'], ...denied }),
  },
})

const listAudit: RouteHandler<typeof listAuditRoute, AppEnv> = async (c) => {
  const { limit, cursor, user_id, action } = c.req.valid('query')
  const rows = await listAuditEvents(c.var.db, { limit: limit + 1, before: cursor, userId: user_id, action })
  const { items, nextCursor } = page(rows, limit)
  return c.json(
    {
      events: items.map(auditEventView),
      next_cursor: nextCursor,
    },
    200,
  )
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** Operators' view of users and the audit log. Mounted at /api/v1/admin. */
export const admin = authenticated
  .openapi(listAccountsRoute, listAccounts)
  .openapi(getUserRoute, getUser)
  .openapi(updateUserRoute, updateUser)
  .openapi(deleteUserRoute, deleteUser)
  .openapi(resetUserMfaRoute, resetUserMfa)
  .openapi(endUserSessionsRoute, endUserSessions)
  .openapi(unlockUserRoute, unlockUser)
  .openapi(listAuditRoute, listAudit)
