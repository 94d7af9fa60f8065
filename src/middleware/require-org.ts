import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { demand, orgAccess } from '../orgs/access'

/**
 * The organization-scoped routes' guard, mounted after requireAuth(): the caller's membership of
 * the organization in the path's `{org}` is read from the database on this request (never from a
 * token's claims), 404 when there is none, 403 when it lacks one of these permissions. A removed
 * member or a changed role counts on the very next request.
 */
export function requireOrg(...permissions: string[]) {
  return createMiddleware<AppEnv>(async function orgMember(c, next) {
    const access = await orgAccess(c.var.signIn, c.req.param('org') ?? '', c.var.user.id)
    demand(access, ...permissions)
    c.set('org', access)
    await next()
  })
}
