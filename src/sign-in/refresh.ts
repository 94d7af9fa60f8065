import { hashOpaqueToken, rotatedRefreshToken, rotationsBehind, sessionOfRefreshToken } from '../auth/opaque-tokens'
import { activeOrganizationOf } from '../db/orgs'
import { endSession, findLiveSession, findRefreshState, revokeReusedSession, rotateRefreshToken } from '../db/sessions'
import { problem } from '../errors'
import { log } from '../log'
import type { SignInContext } from './context'
import type { Grant } from './grant'
import { grantFor } from './grant'

/**
 * The organization a session works in, read again at every refresh: a member removed since (or an
 * organization deleted) has no organization claims from the next refresh on.
 */
async function organizationOf(ctx: SignInContext, orgId: string | null, userId: string) {
  if (!orgId) return undefined
  return (await activeOrganizationOf(ctx.db, { orgId, userId })) ?? undefined
}

/**
 * A refresh: the presented token rotates to the next of its chain, and the session's assurance
 * comes back unchanged in a new pair. A token that is not current is either a client retrying
 * (the latest rotation, within the grace window, its replacement still unused: it gets the same
 * replacement back) or a copy in someone else's hands (RFC 9700 §4.14.2: the whole session ends).
 */
export async function refreshSession(ctx: SignInContext, presented: string): Promise<Grant> {
  const { db, config, caller: client } = ctx
  const { now } = ctx
  const sessionId = sessionOfRefreshToken(presented)
  if (!sessionId) throw problem('invalid_refresh_token')
  const refreshToken = await rotatedRefreshToken(config.refreshKey, sessionId, presented)
  const [oldHash, newHash] = await Promise.all([hashOpaqueToken(presented), hashOpaqueToken(refreshToken)])

  const rotated = await rotateRefreshToken(db, { sessionId, oldHash, newHash, now })
  if (rotated) {
    if (rotated.user.disabled) {
      // Disabling already ends every session; this only closes the gap of a concurrent refresh.
      await endSession(db, sessionId)
      throw problem('invalid_refresh_token')
    }
    const organization = await organizationOf(ctx, rotated.session.activeOrgId, rotated.user.id)
    return grantFor(config, rotated.user, { ...rotated.session, refreshToken, organization }, now)
  }

  const state = await findRefreshState(db, sessionId)
  const behind = state && (await rotationsBehind(config.refreshKey, presented, state))
  if (!state || behind === undefined) throw problem('invalid_refresh_token')
  const withinGrace = now.getTime() - state.rotatedAt.getTime() < config.refreshReuseGraceSeconds * 1000
  if (behind === 1 && withinGrace) {
    const live = await findLiveSession(db, sessionId, now)
    if (live && !live.user.disabled) {
      const organization = await organizationOf(ctx, live.session.activeOrgId, live.user.id)
      return grantFor(config, live.user, { ...live.session, refreshToken, organization }, now)
    }
  }
  await revokeReusedSession(db, { sessionId, userId: state.userId, client, now })
  log('warn', 'session.reuse_detected', { request_id: ctx.requestId, session_id: sessionId, user_id: state.userId })
  throw problem('invalid_refresh_token')
}
