import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { removeAccount } from '../db/last-admin'
import { allOf } from '../db/sessions'
import { findTakenFields, normaliseEmail, recordAuthentication, updateProfile } from '../db/users'
import { problem, rateLimited, takenError } from '../errors'
import { changeOwnPassword } from '../factors/password'
import { createRouter } from '../http/router'
import { signedIn } from '../http/signed-in'
import { withPasswordPolicy } from '../http/validation'
import { enqueueAfterWrite, enqueueMail, verificationJob } from '../mail/jobs'
import { requireAuth } from '../middleware/require-auth'
import { accountSubject } from '../rate-limit/client'
import { ipBudget } from '../rate-limit/ip-budget'
import { acceptedSchema } from '../schemas/accepted'
import { currentPasswordField, emailField, newPasswordField, usernameField } from '../schemas/fields'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { bodyProblems, problems } from '../schemas/problem'
import { ownUserEnvelope } from '../schemas/user'
import { proveAgain } from '../sign-in/reauthenticate'
import { requireRecentProof } from '../sign-in/recent-proof'
import { ownUserView } from '../views/user'

const unauthorized = problems({ 401: ['unauthorized'] })

const getMeRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'getMe',
  tags: ['me'],
  summary: 'The signed-in user',
  security: bearerAuth,
  responses: { 200: jsonResponse(ownUserEnvelope, 'The user'), ...unauthorized },
})

const getMe: RouteHandler<typeof getMeRoute, AppEnv> = (c) => c.json({ user: ownUserView(c.var.user) }, 200)

const updateMeBody = z
  .object({ username: usernameField.optional(), email: emailField.optional() })
  .openapi('UpdateMeRequest', { description: 'Other fields, `role` among them, are ignored.' })

const updateMeRoute = createRoute({
  method: 'patch',
  path: '/',
  operationId: 'updateMe',
  tags: ['me'],
  summary: 'Change your username, or ask to change your email',
  description:
    "Uniqueness is checked as at signup. A new email is a sensitive action (a recent proof on this session) and only becomes `pending_email`: the new address gets a link (POST /users/email/verify) that makes it the account's, and the old address then gets a notice with a link that undoes it. Budgeted: the client network's budget and PROFILE_CHANGES_PER_HOUR per account.",
  security: bearerAuth,
  request: { body: jsonRequest(updateMeBody) },
  responses: {
    200: jsonResponse(ownUserEnvelope, 'The updated user'),
    ...bodyProblems({
      400: ['validation_failed'],
      401: ['unauthorized'],
      403: ['reauthentication_required'],
      409: ['username_taken', 'email_taken'],
      429: ['rate_limited'],
    }),
  },
})

const updateMe: RouteHandler<typeof updateMeRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const { db, user } = c.var
  // Only real changes: re-sending the current email (or the pending one) changes nothing.
  const email = body.email !== undefined ? normaliseEmail(body.email) : undefined
  const changes = {
    username: body.username !== undefined && body.username !== user.username ? body.username : undefined,
    pendingEmail: email !== undefined && email !== user.email && email !== user.pendingEmail ? email : undefined,
  }
  if (changes.username === undefined && changes.pendingEmail === undefined) return c.json({ user: ownUserView(user) }, 200)

  // Before anything is looked up: a refused change learns nothing about other accounts.
  if (changes.pendingEmail !== undefined) await requireRecentProof(c.var.signIn, signedIn(c))
  const admission = await c.var.limiter.admitProfileChange(user.id)
  if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)
  const [taken] = await findTakenFields(db, { username: changes.username, email: changes.pendingEmail }, user.id)
  if (taken) throw takenError(taken)
  const updated = await updateProfile(db, { userId: user.id, ...changes, client: c.var.client, now: new Date() })
  if (updated.taken) throw takenError(updated.taken)
  if (!updated.user) throw problem('not_found')
  if (changes.pendingEmail !== undefined) {
    // The new address must prove itself before it is the account's.
    await enqueueAfterWrite(c.env.MAIL_QUEUE, [{ kind: 'email_change', userId: user.id, newEmail: changes.pendingEmail }], c.var.requestId)
  }
  return c.json({ user: ownUserView(updated.user) }, 200)
}

const changePasswordBody = z
  .object({ current_password: currentPasswordField, new_password: newPasswordField })
  .openapi('ChangePasswordRequest')

const changeMyPasswordRoute = createRoute({
  method: 'post',
  path: '/password',
  operationId: 'changePassword',
  tags: ['me'],
  summary: 'Change your password',
  description: 'Every other session is ended; the one making this request stays signed in.',
  security: bearerAuth,
  request: { body: jsonRequest(changePasswordBody) },
  responses: {
    204: { description: 'Changed' },
    ...bodyProblems({
      400: ['validation_failed'],
      401: ['unauthorized'],
      403: ['invalid_password', 'reauthentication_required'],
      429: ['rate_limited'],
    }),
  },
})

const changeMyPassword: RouteHandler<typeof changeMyPasswordRoute, AppEnv> = async (c) => {
  const { current_password, new_password } = c.req.valid('json')
  await changeOwnPassword(c.var.signIn, signedIn(c), { currentPassword: current_password, newPassword: new_password })
  return c.body(null, 204)
}

const deleteMeBody = z.object({ password: currentPasswordField }).openapi('DeleteMeRequest')

const deleteMeRoute = createRoute({
  method: 'delete',
  path: '/',
  operationId: 'deleteMe',
  tags: ['me'],
  summary: 'Delete your account',
  description: 'The user and every session go; the username and email become free.',
  security: bearerAuth,
  request: { body: jsonRequest(deleteMeBody) },
  responses: {
    204: { description: 'Deleted' },
    ...bodyProblems({
      400: ['validation_failed'],
      401: ['unauthorized'],
      403: ['invalid_password', 'reauthentication_required'],
      409: ['last_admin', 'last_owner'],
      429: ['rate_limited'],
    }),
  },
})

const deleteMe: RouteHandler<typeof deleteMeRoute, AppEnv> = async (c) => {
  const { password } = c.req.valid('json')
  const { db, user, client } = c.var
  await requireRecentProof(c.var.signIn, signedIn(c), { passwordInBody: true })
  const { checked, at } = await proveAgain(c.var.signIn, c.var.user, [{ kind: 'password', password }], 'account_deletion')
  const outcome = await removeAccount(db, {
    targetId: user.id,
    event: { action: 'user.deleted', actorId: user.id, targetId: user.id },
    actor: { id: user.id, onlyUserAccounts: false },
    confirmedBy: allOf(checked.map((proof) => proof.write)).guard,
    client,
    now: new Date(),
  })
  // The password changed between the check and the write: it is no longer the right one.
  if (outcome === 'proof_stale' || outcome === 'not_found') throw problem('invalid_password')
  if (outcome === 'last_admin' || outcome === 'last_owner') {
    // The password was right: that ends the account's failure streak, as a login would.
    await recordAuthentication(db, user.id, at)
    throw problem(outcome)
  }
  // The account is gone: so is its failure streak at the limiter.
  await c.var.limiter.resetLoginFailures(accountSubject(user.id))
  return c.body(null, 204)
}

const askForVerificationMailRoute = createRoute({
  method: 'post',
  path: '/email/verification',
  operationId: 'requestEmailVerification',
  tags: ['me'],
  summary: 'Mail a verification link to your current address',
  description: 'Nothing is sent when the address is already verified, or past MAIL_PER_ADDRESS_PER_HOUR; the answer is 202 either way.',
  security: bearerAuth,
  middleware: [ipBudget()] as const,
  responses: { 202: jsonResponse(acceptedSchema, 'Accepted'), ...problems({ 401: ['unauthorized'], 429: ['rate_limited'] }) },
})

const askForVerificationMail: RouteHandler<typeof askForVerificationMailRoute, AppEnv> = async (c) => {
  const { user } = c.var
  if (!user.emailVerified) await enqueueMail(c.env.MAIL_QUEUE, [verificationJob(user)])
  return c.json({ status: 'accepted' as const }, 202)
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** The signed-in user's own account: profile, address, password, deletion. Mounted at /api/v1/users/me. */
export const account = authenticated
  .openapi(getMeRoute, getMe)
  .openapi(updateMeRoute, updateMe)
  .openapi(
    changeMyPasswordRoute,
    changeMyPassword,
    withPasswordPolicy('new_password', (body, c) => ({
      password: body.new_password,
      username: c.var.user.username,
      email: c.var.user.email,
    })),
  )
  .openapi(deleteMeRoute, deleteMe)
  .openapi(askForVerificationMailRoute, askForVerificationMail)
