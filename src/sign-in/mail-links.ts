import { hashOpaqueToken } from '../auth/opaque-tokens'
import { hashPassword } from '../auth/password'
import { passwordProblem } from '../auth/password-policy'
import { recordEvent } from '../db/audit'
import { confirmEmailChange, resetBinding, resetPassword, revertEmailChange, verifyEmail } from '../db/mail'
import { findLiveToken } from '../db/one-time-tokens'
import type { OneTimeTokenPurpose, UserRow } from '../db/schema'
import { problem, takenError, validationFailed } from '../errors'
import { accountSubject } from '../rate-limit/client'
import type { SignInContext } from './context'

/*
 * A mailed link is a proof: whoever follows it holds the mailbox it went to. Each one is redeemed
 * here, as every other proof is checked in this layer: the token found by its hash, its binding
 * compared, then spent by the write that acts on it, and every refusal audited
 * (`user.mail_link_failed`, with the purpose and why). Each request has already spent from the
 * client network's budget (the routes' ipBudget); a token holds 256 random bits, so that budget,
 * not the account's failure streak, is what throttles guessing. Counting refusals against the
 * account would let anyone who fails logins on purpose lock its owner out of the one way back in.
 */

type Refusal = 'unknown_token' | 'binding_changed' | 'spent_meanwhile'

async function refuse(
  ctx: SignInContext,
  purpose: OneTimeTokenPurpose | 'verification',
  reason: Refusal,
  userId: string | null,
): Promise<never> {
  const details = { purpose, reason }
  await recordEvent(ctx.db, { action: 'user.mail_link_failed', targetId: userId, details }, ctx.caller, ctx.now)
  throw problem('invalid_token')
}

/**
 * POST /users/password/reset: a reset link, bound to the password it replaces and the address it
 * went to. Sets the new password (every session ends, the address counts as verified, and on its
 * first proof the account is cleaned: db/first-proof.ts), then ends the account's login backoff.
 */
export async function redeemResetLink(ctx: SignInContext, input: { token: string; newPassword: string }): Promise<UserRow> {
  const { db, config, caller: client } = ctx
  const { now } = ctx
  const found = await findLiveToken(db, { tokenHash: await hashOpaqueToken(input.token), purposes: ['password_reset'], now })
  if (!found) return refuse(ctx, 'password_reset', 'unknown_token', null)
  const { user } = found
  // Bound to the password it replaces and the address it went to: a change of either kills it.
  if (found.token.boundTo !== (await resetBinding(user))) return refuse(ctx, 'password_reset', 'binding_changed', user.id)
  // After the token: only its holder learns what the policy thinks of the account's name.
  const refused = passwordProblem(input.newPassword, { minLength: config.passwordMinLength, username: user.username, email: user.email })
  if (refused) throw validationFailed([{ path: 'new_password', message: refused }])
  const newHash = await hashPassword(input.newPassword, config)
  const updated = await resetPassword(db, { tokenId: found.token.id, user, newHash, client, now })
  if (!updated) return refuse(ctx, 'password_reset', 'spent_meanwhile', user.id)
  // The mailbox proved who they are: the login backoff (and a lock) ends, exactly, at the limiter.
  await ctx.limiter.resetLoginFailures(accountSubject(user.id))
  return updated
}

/** What a verification link did: verified the current address, or made a pending one the account's. */
export type Verified =
  | { kind: 'address_verified'; user: UserRow }
  | { kind: 'address_changed'; user: UserRow; oldEmail: string; oldAddressWasVerified: boolean }

/**
 * POST /users/email/verify: a verification link (the current address) or an address-change link
 * (the pending one, which becomes the account's). An address another account took meanwhile is
 * 409 email_taken.
 */
export async function redeemVerificationLink(ctx: SignInContext, token: string): Promise<Verified> {
  const { db, caller: client } = ctx
  const { now } = ctx
  const tokenHash = await hashOpaqueToken(token)
  const found = await findLiveToken(db, { tokenHash, purposes: ['email_verification', 'email_change'], now })
  if (!found) return refuse(ctx, 'verification', 'unknown_token', null)
  const { token: row, user } = found
  if (row.purpose === 'email_verification') {
    if (row.boundTo !== user.email) return refuse(ctx, row.purpose, 'binding_changed', user.id)
    const verified = await verifyEmail(db, { tokenId: row.id, userId: user.id, email: user.email, client, now })
    if (!verified) return refuse(ctx, row.purpose, 'spent_meanwhile', user.id)
    return { kind: 'address_verified', user: verified }
  }
  // An address change: the link went to the pending address, which becomes the account's.
  if (row.boundTo !== user.pendingEmail) return refuse(ctx, row.purpose, 'binding_changed', user.id)
  const write = await confirmEmailChange(db, { tokenId: row.id, userId: user.id, oldEmail: user.email, newEmail: row.boundTo, client, now })
  // Another account took the address after the change was asked for.
  if (write.taken) throw takenError(write.taken)
  const changed = write.user
  if (!changed) return refuse(ctx, row.purpose, 'spent_meanwhile', user.id)
  return { kind: 'address_changed', user: changed, oldEmail: user.email, oldAddressWasVerified: user.emailVerified }
}

/**
 * POST /users/email/revert: the old address's link puts it back (verified), ends every session and
 * drops any pending change. An address someone else has taken since is 409 email_taken.
 */
export async function redeemRevertLink(ctx: SignInContext, token: string): Promise<UserRow> {
  const { db, caller: client } = ctx
  const { now } = ctx
  const found = await findLiveToken(db, { tokenHash: await hashOpaqueToken(token), purposes: ['email_revert'], now })
  if (!found) return refuse(ctx, 'email_revert', 'unknown_token', null)
  const write = await revertEmailChange(db, { token: found.token, userId: found.user.id, restoreEmail: found.token.boundTo, client, now })
  // The old address was given up and someone else has it now: it cannot come back.
  if (write.taken) throw takenError(write.taken)
  const reverted = write.user
  if (!reverted) return refuse(ctx, 'email_revert', 'spent_meanwhile', found.user.id)
  return reverted
}
