import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { hashPassword } from '../auth/password'
import { listAuditEvents } from '../db/audit'
import { removeAccount } from '../db/last-admin'
import { endUserSession, listActiveSessions, listAllSessions } from '../db/sessions'
import { changePassword, findTakenFields, findUserById, normaliseEmail, recordAuthentication, updateProfile } from '../db/users'
import { problem, takenError, validationFailed } from '../errors'
import { createRouter } from '../http/router'
import { withPasswordPolicy } from '../http/validation'
import { enqueueAfterWrite, enqueueMail, verificationJob } from '../mail/jobs'
import { requireAuth } from '../middleware/require-auth'
import { ipBudget } from '../rate-limit/ip-budget'
import { acceptedSchema } from '../schemas/accepted'
import { publicAuditEvent } from '../schemas/audit'
import { currentPasswordField, emailField, newPasswordField, usernameField } from '../schemas/fields'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { bodyProblems, problems } from '../schemas/problem'
import { publicUser, userEnvelope } from '../schemas/user'
import { reauthenticate } from '../sign-in/reauthenticate'

const unauthorized = problems({ 401: ['unauthorized'] })

const getMeRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'getMe',
  tags: ['me'],
  summary: 'The signed-in user',
  security: bearerAuth,
  responses: { 200: jsonResponse(userEnvelope, 'The user'), ...unauthorized },
})

const getMe: RouteHandler<typeof getMeRoute, AppEnv> = (c) => c.json({ user: publicUser(c.var.user) }, 200)

const updateMeBody = z
  .object({ username: usernameField.optional(), email: emailField.optional() })
  .openapi('UpdateMeRequest', { description: 'Other fields, `role` among them, are ignored.' })

const updateMeRoute = createRoute({
  method: 'patch',
  path: '/',
  operationId: 'updateMe',
  tags: ['me'],
  summary: 'Change your username or email',
  description: 'Uniqueness is checked as at signup. A new email address is unverified.',
  security: bearerAuth,
  request: { body: jsonRequest(updateMeBody) },
  responses: {
    200: jsonResponse(userEnvelope, 'The updated user'),
    ...bodyProblems({ 400: ['validation_failed'], 401: ['unauthorized'], 409: ['username_taken', 'email_taken'] }),
  },
})

const updateMe: RouteHandler<typeof updateMeRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const { db, user } = c.var
  // Only real changes: re-sending the current email keeps it verified.
  const changes = {
    username: body.username !== undefined && body.username !== user.username ? body.username : undefined,
    email: body.email !== undefined && normaliseEmail(body.email) !== user.email ? body.email : undefined,
  }
  if (changes.username === undefined && changes.email === undefined) return c.json({ user: publicUser(user) }, 200)

  const [taken] = await findTakenFields(db, changes, user.id)
  if (taken) throw takenError(taken)
  const updated = await updateProfile(db, { userId: user.id, ...changes, client: c.var.client, now: new Date() })
  if (updated.taken) throw takenError(updated.taken)
  if (!updated.user) throw problem('not_found')
  if (changes.email !== undefined) {
    // The new address must prove itself; the old one hears of the change, with no link to follow.
    await enqueueAfterWrite(
      c.env.MAIL_QUEUE,
      [verificationJob(updated.user), { kind: 'email_changed', userId: user.id, oldEmail: user.email, newEmail: updated.user.email }],
      c.var.requestId,
    )
  }
  return c.json({ user: publicUser(updated.user) }, 200)
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
    ...bodyProblems({ 400: ['validation_failed'], 401: ['unauthorized'], 403: ['invalid_password'], 429: ['rate_limited'] }),
  },
})

const changeMyPassword: RouteHandler<typeof changeMyPasswordRoute, AppEnv> = async (c) => {
  const { current_password, new_password } = c.req.valid('json')
  const { db, config, user, session, client } = c.var
  // Before the password is checked, so a request that cannot succeed costs no attempt.
  if (new_password.normalize('NFC') === current_password.normalize('NFC')) {
    throw validationFailed([{ path: 'new_password', message: 'must differ from the current password' }])
  }
  const { checked, at } = await reauthenticate(c, { kind: 'password', password: current_password }, 'password_change')
  const passwordHash = await hashPassword(new_password, config)
  const changed = await changePassword(db, {
    userId: user.id,
    keepSessionId: session.id,
    confirmedBy: checked.write.guard,
    passwordHash,
    authAt: at,
    client,
    now: new Date(),
  })
  // Another change of the password landed first: the one checked here is no longer current.
  if (!changed) throw problem('invalid_password')
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
      403: ['invalid_password'],
      409: ['last_admin'],
      429: ['rate_limited'],
    }),
  },
})

const deleteMe: RouteHandler<typeof deleteMeRoute, AppEnv> = async (c) => {
  const { password } = c.req.valid('json')
  const { db, user, client } = c.var
  const { checked, at } = await reauthenticate(c, { kind: 'password', password }, 'account_deletion')
  const deleted = await removeAccount(db, {
    targetId: user.id,
    event: { action: 'user.deleted', actorId: user.id, targetId: user.id },
    actor: { id: user.id, onlyUserAccounts: false },
    confirmedBy: checked.write.guard,
    client,
    now: new Date(),
  })
  if (!deleted) {
    const current = await findUserById(db, user.id)
    if (current?.passwordHash !== user.passwordHash) throw problem('invalid_password')
    // The password was right: that ends the account's failure streak, as a login would.
    await recordAuthentication(db, user.id, at)
    throw problem('last_admin')
  }
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

const sessionSchema = z
  .object({
    id: z.uuid(),
    created_at: z.iso.datetime(),
    last_used_at: z.iso.datetime().openapi({ description: 'Login or the latest refresh' }),
    expires_at: z.iso.datetime(),
    user_agent: z.string().nullable(),
    current: z.boolean().openapi({ description: 'Whether this request was made with this session' }),
  })
  .openapi('Session')

const listMySessionsRoute = createRoute({
  method: 'get',
  path: '/sessions',
  operationId: 'listMySessions',
  tags: ['me'],
  summary: 'Your active sessions, newest first',
  security: bearerAuth,
  responses: { 200: jsonResponse(z.object({ sessions: z.array(sessionSchema) }), 'Sessions'), ...unauthorized },
})

const listMySessions: RouteHandler<typeof listMySessionsRoute, AppEnv> = async (c) => {
  const { db, user, session: current } = c.var
  const sessions = await listActiveSessions(db, user.id, new Date())
  return c.json(
    {
      sessions: sessions.map((session) => ({
        id: session.id,
        created_at: session.createdAt.toISOString(),
        last_used_at: session.lastUsedAt.toISOString(),
        expires_at: session.expiresAt.toISOString(),
        user_agent: session.userAgent,
        current: session.id === current.id,
      })),
    },
    200,
  )
}

const endMySessionRoute = createRoute({
  method: 'delete',
  path: '/sessions/{id}',
  operationId: 'endMySession',
  tags: ['me'],
  summary: 'End one of your sessions',
  description: "Another user's session, or one that does not exist, is a 404.",
  security: bearerAuth,
  request: { params: z.object({ id: z.string().max(64) }) },
  responses: { 204: { description: 'Ended' }, ...problems({ 401: ['unauthorized'], 404: ['not_found'] }) },
})

const endMySession: RouteHandler<typeof endMySessionRoute, AppEnv> = async (c) => {
  const { id } = c.req.valid('param')
  const { db, user, client } = c.var
  if (!(await endUserSession(db, { userId: user.id, sessionId: id, client, now: new Date() }))) throw problem('not_found')
  return c.body(null, 204)
}

/** Audit events are read this many at a time while the export streams, whatever the history's length. */
const EXPORT_PAGE = 200

const exportRoute = createRoute({
  method: 'get',
  path: '/export',
  operationId: 'exportMyData',
  tags: ['me'],
  summary: 'Download everything held about you',
  description:
    'A JSON attachment: the profile, every session (never a token or its hash) and every audit event that names you as actor or target, newest first. Streamed, so a long history is never held in memory whole.',
  security: bearerAuth,
  responses: {
    200: {
      description: 'The export, as a download (Content-Disposition: attachment)',
      content: { 'application/json': { schema: z.object({}).passthrough().openapi('PersonalDataExport') } },
    },
    ...unauthorized,
  },
})

const exportMyData: RouteHandler<typeof exportRoute, AppEnv> = async (c) => {
  const { db, user } = c.var
  const sessions = await listAllSessions(db, user.id)
  const encoder = new TextEncoder()
  const head = {
    exported_at: new Date().toISOString(),
    user: { ...publicUser(user), disabled: user.disabled, last_login_at: user.lastLoginAt?.toISOString() ?? null },
    sessions: sessions.map((session) => ({
      id: session.id,
      created_at: session.createdAt.toISOString(),
      last_used_at: session.lastUsedAt.toISOString(),
      expires_at: session.expiresAt.toISOString(),
      user_agent: session.userAgent,
    })),
  }
  let before: string | undefined
  let first = true
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // The object is written by hand around its last member, so the events can follow page by page.
      controller.enqueue(encoder.encode(`${JSON.stringify(head).slice(0, -1)},"audit_events":[`))
    },
    async pull(controller) {
      const page = await listAuditEvents(db, { limit: EXPORT_PAGE, before, userId: user.id })
      for (const event of page) {
        controller.enqueue(encoder.encode(`${first ? '' : ','}${JSON.stringify(publicAuditEvent(event))}`))
        first = false
      }
      before = page.at(-1)?.id
      if (page.length < EXPORT_PAGE) {
        controller.enqueue(encoder.encode(']}'))
        controller.close()
      }
    },
  })
  const filename = `edge-users-export-${user.username}.json`
  // A stream, which the typed c.json() cannot carry; its shape is the one written above.
  return c.body(body, 200, {
    'Content-Type': 'application/json',
    'Content-Disposition': `attachment; filename="${filename}"`,
    'Cache-Control': 'no-store',
  }) as never
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** The signed-in user's own account: profile, password, sessions. Mounted at /api/v1/users/me. */
export const me = authenticated
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
  .openapi(listMySessionsRoute, listMySessions)
  .openapi(endMySessionRoute, endMySession)
  .openapi(exportRoute, exportMyData)
