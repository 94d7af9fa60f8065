export const ROLES = ['user', 'moderator', 'admin'] as const
export type Role = (typeof ROLES)[number]

export const PERMISSIONS = ['users:read', 'users:disable', 'users:manage', 'audit:read', 'oauth_clients:manage'] as const
export type Permission = (typeof PERMISSIONS)[number]

/**
 * The contract's permission matrix, in one place. Deny by default: a role holds exactly the
 * permissions listed here. `users:disable` on a moderator is further limited to `user`-role
 * targets where it is used.
 */
const grants: Record<Role, ReadonlySet<Permission>> = {
  user: new Set(),
  moderator: new Set(['users:read', 'users:disable']),
  admin: new Set(['users:read', 'users:disable', 'users:manage', 'audit:read', 'oauth_clients:manage']),
}

export function can(role: Role, permission: Permission): boolean {
  return grants[role]?.has(permission) ?? false
}
