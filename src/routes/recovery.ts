import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { hashOpaqueToken } from '../auth/opaque-tokens'
import { hashPassword } from '../auth/password'
import { passwordProblem } from '../auth/password-policy'
import { findLiveMailToken, passwordBinding, resetPassword, verifyEmail } from '../db/mail'
import { normaliseEmail } from '../db/users'
import { problem, validationFailed } from '../errors'
import { createRouter } from '../http/router'
import { enqueueMail } from '../mail/jobs'
import { ipBudget } from '../rate-limit/ip-budget'
import { acceptedSchema } from '../schemas/accepted'
import { emailField, newPasswordField } from '../schemas/fields'
import { jsonRequest, jsonResponse, noAuth } from '../schemas/openapi'
import { bodyProblems } from '../schemas/problem'
import { publicUser, userEnvelope } from '../schemas/user'

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
    'Every session ends and the address counts as verified. A token is dead once used, expired, replaced by a newer one, or once the password changed by any path.',
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
  const { db, config, client } = c.var
  const now = new Date()
  const found = await findLiveMailToken(db, { tokenHash: await hashOpaqueToken(token), purpose: 'password_reset', now })
  if (!found || found.token.boundTo !== (await passwordBinding(found.user.passwordHash))) throw problem('invalid_token')
  const { user } = found
  // After the token: only its holder learns what the policy thinks of the account's name.
  const refused = passwordProblem(new_password, { minLength: config.passwordMinLength, username: user.username, email: user.email })
  if (refused) throw validationFailed([{ path: 'new_password', message: refused }])

  const newHash = await hashPassword(new_password, config)
  const updated = await resetPassword(db, { tokenId: found.token.id, userId: user.id, oldHash: user.passwordHash, newHash, client, now })
  if (!updated) throw problem('invalid_token')
  return c.body(null, 204)
}

const verifyBody = z.object({ token: tokenField }).openapi('VerifyEmailRequest')

const confirmEmailRoute = createRoute({
  method: 'post',
  path: '/email/verify',
  operationId: 'verifyEmail',
  tags: ['recovery'],
  summary: 'Confirm an email address with the token from a verification link',
  description: 'A token is dead once used, expired, replaced by a newer one, or once the address changed.',
  security: noAuth,
  middleware: [ipBudget()] as const,
  request: { body: jsonRequest(verifyBody) },
  responses: {
    200: jsonResponse(userEnvelope, 'The user, with email_verified true'),
    ...bodyProblems({ 400: ['validation_failed', 'invalid_token'], 429: ['rate_limited'] }),
  },
})

const confirmEmail: RouteHandler<typeof confirmEmailRoute, AppEnv> = async (c) => {
  const { token } = c.req.valid('json')
  const { db, client } = c.var
  const now = new Date()
  const found = await findLiveMailToken(db, { tokenHash: await hashOpaqueToken(token), purpose: 'email_verification', now })
  if (!found || found.token.boundTo !== found.user.email) throw problem('invalid_token')
  const verified = await verifyEmail(db, { tokenId: found.token.id, userId: found.user.id, email: found.user.email, client, now })
  if (!verified) throw problem('invalid_token')
  return c.json({ user: publicUser(verified) }, 200)
}

/** Password reset and email verification by link, for people who are not signed in. Mounted at /api/v1/users. */
export const recovery = createRouter()
  .openapi(forgotPasswordRoute, forgotPassword)
  .openapi(resetForgottenPasswordRoute, resetForgottenPassword)
  .openapi(confirmEmailRoute, confirmEmail)
