import { hashOpaqueToken } from '../auth/opaque-tokens'
import { acceptInvitation, findOpenInvitation, memberRoles } from '../db/orgs'
import type { UserRow } from '../db/schema'
import { problem } from '../errors'
import type { SignInContext } from '../sign-in/context'

/**
 * Accepts an invitation for the signed-in account: the token must be an open invitation's, and the
 * account's VERIFIED address the invited one (an unverified address proves nothing: anybody can
 * sign up with someone else's). Spent once; the membership and its event in the same batch.
 * Used by the JSON route and the hosted page alike.
 */
export async function acceptInvitationToken(ctx: SignInContext, user: UserRow, token: string) {
  const found = await findOpenInvitation(ctx.db, await hashOpaqueToken(token), ctx.now)
  if (!found) throw problem('invalid_token')
  const { invitation, org } = found
  if (!user.emailVerified || user.email !== invitation.email) throw problem('invitation_email_mismatch')
  const accepted = await acceptInvitation(ctx.db, {
    invitationId: invitation.id,
    orgId: org.id,
    userId: user.id,
    email: invitation.email,
    roles: invitation.roles,
    client: ctx.caller,
    now: ctx.now,
  })
  if (!accepted) throw problem('invalid_token')
  return { org, roles: (await memberRoles(ctx.db, org.id, user.id)) ?? invitation.roles }
}
