import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { can, PERMISSIONS, type Permission } from '../auth/roles'
import { problem } from '../errors'

/**
 * Lets the request through only if the signed-in user's role holds the permission. The role is
 * the one just read from the database by requireAuth(), never the token's claim, so a role change
 * applies on the next request. Mount after requireAuth().
 */
export function requirePermission(permission: Permission) {
  if (!PERMISSIONS.includes(permission)) throw new Error(`requirePermission: unknown permission ${permission}`)
  return createMiddleware<AppEnv>(async function checkPermission(c, next) {
    if (!can(c.var.user.role, permission)) {
      throw problem('forbidden')
    }
    await next()
  })
}
