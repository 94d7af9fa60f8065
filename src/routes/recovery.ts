import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { normaliseEmail } from '../db/users'
import { createRouter } from '../http/router'
import { enqueueAfterWrite, enqueueMail } from '../mail/jobs'
import { ipBudget } from '../rate-limit/ip-budget'
import { acceptedSchema } from '../schemas/accepted'
import { emailField, newPasswordField } from '../schemas/fields'
import { jsonRequest, jsonResponse, noAuth } from '../schemas/openapi'
import { bodyProblems } from '../schemas/problem'
import { userEnvelope } from '../schemas/user'
import { redeemResetLink, redeemRevertLink, redeemVerificationLink } from '../sign-in/mail-links'
import { userView } from '../views/user'

const tokenField = z.string().min(1, 'is required').max(256).openapi({ description: 'The token from the link (after #token=)' })

const forgotBody = z.object({ email: emailField }).openapi('ForgotPasswordRequest')

const forgotPasswordRoute = createRoute({
  method: 'post',
  path: '/password/forgot',
  operationId: 'forgotPassword',
  tags: ['recovery'],
  summary: 'Mail a password reset link',
  description:
    'Answers 202 with the same body and the same work whether or not the address has an account: the look-up happens later, off the request. At most MAIL_PER_ADDRESS_PER_HOUR mails per address; past that it still answers 202 and sends nothing.',
  security: noAuth,
  middleware: [ipBudget()] as const,
  request: { body: jsonRequest(forgotBody) },
  responses: {
    202: jsonResponse(acceptedSchema, 'Accepted'),
    ...bodyProblems({ 400: ['validation_failed'], 429: ['rate_limited'] }),
  },
})

const forgotPassword: RouteHandler<typeof forgotPasswordRoute, AppEnv> = async (c) => {
  const { email } = c.req.valid('json')
  await enqueueMail(c.env.MAIL_QUEUE, [{ kind: 'password_reset', email: normaliseEmail(email) }])
  return c.json({ status: 'accepted' as const }, 202)
}

const resetBody = z.object({ token: tokenField, new_password: newPasswordField }).openapi('ResetPasswordRequest')

const resetForgottenPasswordRoute = createRoute({
  method: 'post',
  path: '/password/reset',
  operationId: 'resetPassword',
  tags: ['recovery'],
  summary: 'Set a new password with the token from a reset link',
  description:
    'Every session ends, the login backoff ends, a pending address change is dropped, and the address the link went to counts as verified. A second factor stays. A token is dead once used, expired, replaced by a newer one, or once the password or the address changed by any path.',
  security: noAuth,
  middleware: [ipBudget()] as const,
  request: { body: jsonRequest(resetBody) },
  responses: {
    204: { description: 'The password is set' },
    ...bodyProblems({ 400: ['validation_failed', 'invalid_token'], 429: ['rate_limited'] }),
  },
})

const resetForgottenPassword: RouteHandler<typeof resetForgottenPasswordRoute, AppEnv> = async (c) => {
  const { token, new_password } = c.req.valid('json')
  await redeemResetLink(c.var.signIn, { token, newPassword: new_password })
  return c.body(null, 204)
}

const verifyBody = z.object({ token: tokenField }).openapi('VerifyEmailRequest')

const confirmEmailRoute = createRoute({
  method: 'post',
  path: '/email/verify',
  operationId: 'verifyEmail',
  tags: ['recovery'],
  summary: 'Confirm an email address with the token from a verification link',
  description:
    "A verification link marks the current address verified. An address-change link (sent to the pending new address) makes that address the account's, verified, and mails the old address a notice with a revert link when the old address was verified (an address never proved gets none, and is free at once); sessions are not ended. A token is dead once used, expired, replaced by a newer one, or once the address changed.",
  security: noAuth,
  middleware: [ipBudget()] as const,
  request: { body: jsonRequest(verifyBody) },
  responses: {
    200: jsonResponse(userEnvelope, 'The user, with email_verified true'),
    ...bodyProblems({ 400: ['validation_failed', 'invalid_token'], 409: ['email_taken'], 429: ['rate_limited'] }),
  },
})

const confirmEmail: RouteHandler<typeof confirmEmailRoute, AppEnv> = async (c) => {
  const verified = await redeemVerificationLink(c.var.signIn, c.req.valid('json').token)
  // The old address gets its notice and revert link only if it was proved on this account: a
  // revert marks the address it restores verified, and one never proved would come back verified
  // with whatever was added meanwhile (a pre-account takeover through the owner's own revert).
  // Without the link the old address is held for nothing: its owner may sign up with it at once.
  if (verified.kind === 'address_changed' && verified.oldAddressWasVerified) {
    const { user, oldEmail } = verified
    await enqueueAfterWrite(c.env.MAIL_QUEUE, [{ kind: 'email_changed', userId: user.id, oldEmail, newEmail: user.email }], c.var.requestId)
  }
  return c.json({ user: userView(verified.user) }, 200)
}

const revertBody = z.object({ token: tokenField }).openapi('RevertEmailRequest')

const revertEmailRoute = createRoute({
  method: 'post',
  path: '/email/revert',
  operationId: 'revertEmailChange',
  tags: ['recovery'],
  summary: 'Undo an address change with the link sent to the old address',
  description:
    'The old address comes back, verified; every session ends and any pending change is dropped. The link also undoes every later change (their own revert links die); it works once, for EMAIL_REVERT_TTL_SECONDS. Then reset the password through the restored mailbox.',
  security: noAuth,
  middleware: [ipBudget()] as const,
  request: { body: jsonRequest(revertBody) },
  responses: {
    200: jsonResponse(userEnvelope, 'The user, with the old address back'),
    ...bodyProblems({ 400: ['validation_failed', 'invalid_token'], 409: ['email_taken'], 429: ['rate_limited'] }),
  },
})

const revertEmail: RouteHandler<typeof revertEmailRoute, AppEnv> = async (c) => {
  const reverted = await redeemRevertLink(c.var.signIn, c.req.valid('json').token)
  return c.json({ user: userView(reverted) }, 200)
}

/** Password reset and email verification by link, for people who are not signed in. Mounted at /api/v1/users. */
export const recovery = createRouter()
  .openapi(forgotPasswordRoute, forgotPassword)
  .openapi(resetForgottenPasswordRoute, resetForgottenPassword)
  .openapi(confirmEmailRoute, confirmEmail)
  .openapi(revertEmailRoute, revertEmail)
