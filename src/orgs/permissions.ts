/*
 * An organization's permission model. A permission is `resource:action` (or `resource:*`, every
 * action of that resource); a role is a set of them; a member's permissions are the UNION of its
 * roles'. The built-in roles are the same in every organization; an organization adds its own.
 */

export const PERMISSION = /^[a-z][a-z0-9_]*:([a-z][a-z0-9_]*|\*)$/
export const ROLE_NAME = /^[a-z][a-z0-9_-]{0,31}$/

export const BUILT_IN_PERMISSIONS = [
  'organization:update',
  'organization:delete',
  'member:invite',
  'member:remove',
  'member:update',
  'role:manage',
  'audit:read',
] as const

/** The resources the built-in permissions are about: the organization's own powers. */
export const BUILT_IN_RESOURCES = new Set(BUILT_IN_PERMISSIONS.map((permission) => permission.slice(0, permission.indexOf(':'))))

export const BUILT_IN_ROLES: Record<string, readonly string[]> = {
  owner: BUILT_IN_PERMISSIONS,
  admin: BUILT_IN_PERMISSIONS.filter((permission) => permission !== 'organization:delete'),
  member: [],
}

export const isBuiltInRole = (name: string) => Object.hasOwn(BUILT_IN_ROLES, name)

/**
 * Every permission the roles give, their union: a built-in role's own, a custom role's as the
 * organization defined it. A role that exists nowhere gives nothing (and is never stored: roles
 * are checked against the organization's when given).
 */
export function permissionsOf(roles: readonly string[], custom: ReadonlyMap<string, readonly string[]>): Set<string> {
  const all = new Set<string>()
  // Own keys only: a custom role named `constructor` must not find Object's.
  for (const role of roles)
    for (const permission of (isBuiltInRole(role) ? BUILT_IN_ROLES[role] : custom.get(role)) ?? []) all.add(permission)
  return all
}

/** Whether a set of held permissions covers one asked for: itself, or its resource's `*`. */
export function covers(held: ReadonlySet<string>, asked: string): boolean {
  if (held.has(asked)) return true
  const resource = asked.slice(0, asked.indexOf(':'))
  return held.has(`${resource}:*`)
}

/** What of `asked` the held permissions do not cover, in the order asked. */
export const missingFrom = (held: ReadonlySet<string>, asked: readonly string[]) => asked.filter((permission) => !covers(held, permission))
