import { customRoles, findMembership, unknownRoles } from '../db/orgs'
import type { OrganizationRow } from '../db/schema'
import { problem } from '../errors'
import type { SignInContext } from '../sign-in/context'
import { BUILT_IN_RESOURCES, BUILT_IN_ROLES, isBuiltInRole, missingFrom, permissionsOf } from './permissions'

/** What a member may do in an organization, read from the membership on this very request. */
export type OrgAccess = { org: OrganizationRow; roles: string[]; permissions: Set<string> }

/** The permissions of these roles in this organization: built-in ones known here, its own read from it when needed. */
export async function permissionsIn(ctx: SignInContext, orgId: string, roles: string[]): Promise<Set<string>> {
  const custom = roles.some((role) => !Object.hasOwn(BUILT_IN_ROLES, role)) ? await customRoles(ctx.db, orgId) : new Map<string, string[]>()
  return permissionsOf(roles, custom)
}

/**
 * The caller's access to the organization a path names (by id or slug). Not a member, or no such
 * organization: 404 alike, so a non-member learns nothing of it, not even that it exists.
 */
export async function orgAccess(ctx: SignInContext, ref: string, userId: string): Promise<OrgAccess> {
  const membership = await findMembership(ctx.db, ref, userId)
  if (!membership) throw problem('not_found')
  return { org: membership.org, roles: membership.roles, permissions: await permissionsIn(ctx, membership.org.id, membership.roles) }
}

/** 403 unless the member holds every one of these permissions. */
export function demand(access: OrgAccess, ...permissions: string[]): void {
  if (missingFrom(access.permissions, permissions).length > 0)
    throw problem('forbidden', { context: `This needs ${permissions.join(', ')} in the organization.` })
}

/**
 * Nobody but an owner hands out an organization's own powers beyond what they hold: every
 * permission given over a built-in resource (organization, member, role, audit), by a role's
 * definition or by the roles given to a member, must be covered by the giver's own. So an admin
 * cannot write itself a role with organization:delete, nor a member with member:update make
 * itself admin. Permissions over a team's own resources (billing:read) are what role:manage is
 * for, and a holder of role:manage gives them as it likes.
 */
export function demandCovered(access: OrgAccess, given: Iterable<string>): void {
  if (access.roles.includes('owner')) return
  const builtIn = [...given].filter((permission) => BUILT_IN_RESOURCES.has(permission.slice(0, permission.indexOf(':'))))
  const beyond = missingFrom(access.permissions, builtIn)
  if (beyond.length > 0) throw problem('forbidden', { context: `Only an owner gives what you do not hold: ${beyond.join(', ')}.` })
}

/** Roles given to a member or an invitation must exist in the organization (built-in or its own), and only an owner hands out `owner` or more than they hold. */
export async function checkRolesGiven(ctx: SignInContext, access: OrgAccess, roles: string[]) {
  const unknown = await unknownRoles(ctx.db, access.org.id, roles, isBuiltInRole)
  if (unknown.length > 0) throw problem('not_found', { context: `The organization has no role ${unknown.join(', ')}.` })
  if (roles.includes('owner') && !access.roles.includes('owner')) throw problem('forbidden', { context: 'Only an owner makes owners.' })
  demandCovered(access, await permissionsIn(ctx, access.org.id, roles))
}
