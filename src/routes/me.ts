import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { hashPassword } from '../auth/password'
import { listAuditEvents, rolesOf } from '../db/audit'
import { findTotpFactor, secondFactorsOf } from '../db/factors'
import { listIdentities } from '../db/identities'
import { removeAccount } from '../db/last-admin'
import { listPasskeys } from '../db/passkeys'
import type { AuditEventRow } from '../db/schema'
import { allOf, endUserSession, listActiveSessions, listAllSessions } from '../db/sessions'
import { changePassword, findTakenFields, findUserById, normaliseEmail, recordAuthentication, updateProfile } from '../db/users'
import { problem, rateLimited, takenError, validationFailed } from '../errors'
import { createRouter } from '../http/router'
import { withPasswordPolicy } from '../http/validation'
import { enqueueAfterWrite, enqueueMail, verificationJob } from '../mail/jobs'
import { requireAuth } from '../middleware/require-auth'
import { accountSubject, admitProfileChange, resetLoginFailures } from '../rate-limit/client'
import { ipBudget } from '../rate-limit/ip-budget'
import { acceptedSchema } from '../schemas/accepted'
import { publicAuditEvent } from '../schemas/audit'
import { currentPasswordField, emailField, newPasswordField, usernameField } from '../schemas/fields'
import { identityView } from '../schemas/identity'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { authenticationResponseSchema, challengeIdSchema, requestOptionsSchema } from '../schemas/passkeys'
import { bodyProblems, problems } from '../schemas/problem'
import { ownUser, ownUserEnvelope, publicUser } from '../schemas/user'
import { passkeyView, reauthenticationOptions } from '../sign-in/passkeys'
import { proveAgain, reauthenticateWith } from '../sign-in/reauthenticate'
import { requireRecentProof } from '../sign-in/recent-proof'

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

const getMe: RouteHandler<typeof getMeRoute, AppEnv> = (c) => c.json({ user: ownUser(c.var.user) }, 200)

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
  if (changes.username === undefined && changes.pendingEmail === undefined) return c.json({ user: ownUser(user) }, 200)

  // Before anything is looked up: a refused change learns nothing about other accounts.
  if (changes.pendingEmail !== undefined) await requireRecentProof(c)
  const admission = await admitProfileChange(c, user.id)
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
  return c.json({ user: ownUser(updated.user) }, 200)
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
  const { db, config, user, session, client } = c.var
  // Before the password is checked, so a request that cannot succeed costs no attempt.
  if (new_password.normalize('NFC') === current_password.normalize('NFC')) {
    throw validationFailed([{ path: 'new_password', message: 'must differ from the current password' }])
  }
  // The password in the body is the proof; an account with a second factor also needs a recent aal2.
  await requireRecentProof(c, { passwordInBody: true })
  const { checked, at } = await proveAgain(c, [{ kind: 'password', password: current_password }], 'password_change')
  const passwordHash = await hashPassword(new_password, config)
  const changed = await changePassword(db, {
    userId: user.id,
    keepSessionId: session.id,
    confirmedBy: allOf(checked.map((proof) => proof.write)).guard,
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
      403: ['invalid_password', 'reauthentication_required'],
      409: ['last_admin'],
      429: ['rate_limited'],
    }),
  },
})

const deleteMe: RouteHandler<typeof deleteMeRoute, AppEnv> = async (c) => {
  const { password } = c.req.valid('json')
  const { db, user, client } = c.var
  await requireRecentProof(c, { passwordInBody: true })
  const { checked, at } = await proveAgain(c, [{ kind: 'password', password }], 'account_deletion')
  const deleted = await removeAccount(db, {
    targetId: user.id,
    event: { action: 'user.deleted', actorId: user.id, targetId: user.id },
    actor: { id: user.id, onlyUserAccounts: false },
    confirmedBy: allOf(checked.map((proof) => proof.write)).guard,
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
  // The account is gone: so is its failure streak at the limiter.
  await resetLoginFailures(c, accountSubject(user.id))
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

/**
 * An event as the user's export shows it. One the user caused is shown whole; one someone else
 * (or no one signed in) caused shows that person's role at most: never their id, address or user
 * agent, which are theirs, not the user's.
 */
function exportedEvent(event: AuditEventRow, userId: string, roles: Map<string, string>) {
  const shown = publicAuditEvent(event)
  if (event.actorId === userId) return shown
  return {
    ...shown,
    actor_id: null,
    actor_role: event.actorId ? (roles.get(event.actorId) ?? 'deleted account') : null,
    ip: null,
    user_agent: null,
  }
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
    'A sensitive action (a recent proof on this session). A JSON attachment: the profile, every session (never a token or its hash), the second factors, passkeys and linked identities (no secrets), and every audit event that names you as actor or target, newest first. An event someone else caused shows only their role (`actor_role`): never their id, address or user agent. Streamed, so a long history is never held in memory whole.',
  security: bearerAuth,
  responses: {
    200: {
      description: 'The export, as a download (Content-Disposition: attachment)',
      content: { 'application/json': { schema: z.object({}).passthrough().openapi('PersonalDataExport') } },
    },
    ...problems({ 401: ['unauthorized'], 403: ['reauthentication_required'] }),
  },
})

const exportMyData: RouteHandler<typeof exportRoute, AppEnv> = async (c) => {
  const { db, user } = c.var
  await requireRecentProof(c)
  const [sessions, factors, totp, passkeys, identities] = await Promise.all([
    listAllSessions(db, user.id),
    secondFactorsOf(db, user.id),
    findTotpFactor(db, user.id),
    listPasskeys(db, user.id),
    listIdentities(db, user.id),
  ])
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
      auth_time: session.authTime.toISOString(),
      amr: session.amr,
      aal: session.aal,
    })),
    second_factors: {
      totp: totp?.confirmedAt ? { created_at: totp.confirmedAt.toISOString(), last_used_at: totp.lastUsedAt?.toISOString() ?? null } : null,
      recovery_codes_left: factors.recoveryCodesLeft,
    },
    // What each is, never its key material: no public key, credential id, counter or subject.
    passkeys: passkeys.map(passkeyView),
    identities: identities.map(identityView),
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
      const others = [...new Set(page.map((event) => event.actorId).filter((id): id is string => id !== null && id !== user.id))]
      const roles = others.length > 0 ? await rolesOf(db, others) : new Map<string, string>()
      for (const event of page) {
        controller.enqueue(encoder.encode(`${first ? '' : ','}${JSON.stringify(exportedEvent(event, user.id, roles))}`))
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
  }) as never
}

const reauthenticateBody = z
  .object({
    password: currentPasswordField.optional(),
    code: z.string().max(16).optional().openapi({ description: 'A TOTP code, when the account has a second factor' }),
    recovery_code: z.string().max(64).optional().openapi({ description: 'A recovery code, instead of a TOTP code' }),
    passkey: authenticationResponseSchema
      .optional()
      .openapi({ description: 'Instead of the password: an assertion for the options of POST /users/me/reauthenticate/passkey-options' }),
    challenge_id: challengeIdSchema.optional().openapi({ description: "The passkey options' challenge_id" }),
  })
  .superRefine((body, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message })
    if (body.passkey !== undefined) {
      if (body.password !== undefined) issue('password', 'send a password or a passkey, not both')
      if (body.code !== undefined || body.recovery_code !== undefined) issue('code', 'a passkey is two factors: send no code with it')
      if (body.challenge_id === undefined) issue('challenge_id', 'is required with a passkey')
      return
    }
    if (body.password === undefined) issue('password', 'is required (or send a passkey and its challenge_id)')
    if (body.code !== undefined && body.recovery_code !== undefined) issue('code', 'send code or recovery_code, not both')
  })
  .openapi('ReauthenticateRequest')

const reauthenticationSchema = z
  .object({
    access_token: z.string().openapi({ description: 'A new access token carrying the new assurance' }),
    token_type: z.literal('Bearer'),
    expires_in: z.int(),
    auth_time: z.iso.datetime(),
    aal: z.enum(['aal1', 'aal2']),
    amr: z.array(z.string()),
  })
  .openapi('Reauthentication')

const reauthenticateRoute = createRoute({
  method: 'post',
  path: '/reauthenticate',
  operationId: 'reauthenticate',
  tags: ['me'],
  summary: 'Prove who you are again, before a sensitive action',
  description:
    "The session's proof becomes now: sensitive actions for the next REAUTH_MAX_AGE_SECONDS accept it (the check reads the session, so the access token already held works too). On an account with a second factor the password alone is a validation error; send `code` or `recovery_code` with it, or instead of the password a passkey assertion (`passkey`, `challenge_id` from POST /users/me/reauthenticate/passkey-options), which is two factors by itself. Throttled and audited like a login; the refresh token is unchanged.",
  security: bearerAuth,
  request: { body: jsonRequest(reauthenticateBody) },
  responses: {
    200: jsonResponse(reauthenticationSchema, "The session's new assurance"),
    ...bodyProblems({
      400: ['validation_failed', 'invalid_challenge'],
      401: ['unauthorized', 'invalid_mfa_code', 'passkey_failed'],
      403: ['invalid_password'],
      429: ['rate_limited'],
    }),
  },
})

const reauthenticate: RouteHandler<typeof reauthenticateRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  if (body.passkey !== undefined)
    return c.json(await reauthenticateWith(c, { passkey: { challengeId: body.challenge_id ?? '', credential: body.passkey } }), 200)
  const secondFactor =
    body.code !== undefined
      ? ({ kind: 'totp', code: body.code } as const)
      : body.recovery_code !== undefined
        ? ({ kind: 'recovery_code', code: body.recovery_code } as const)
        : undefined
  return c.json(await reauthenticateWith(c, { password: body.password ?? '', secondFactor }), 200)
}

const reauthenticationOptionsRoute = createRoute({
  method: 'post',
  path: '/reauthenticate/passkey-options',
  operationId: 'startPasskeyReauthentication',
  tags: ['me'],
  summary: 'Options for re-authenticating with a passkey',
  description: 'Request options listing your passkeys, with a challenge bound to this session (single use, 5 minutes).',
  security: bearerAuth,
  responses: {
    200: jsonResponse(requestOptionsSchema, 'Pass `options` to navigator.credentials.get()'),
    ...problems({ 401: ['unauthorized'], 404: ['not_found'] }),
  },
})

const reauthenticationOptionsHandler: RouteHandler<typeof reauthenticationOptionsRoute, AppEnv> = async (c) => {
  return c.json(await reauthenticationOptions(c), 200)
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
  .openapi(reauthenticateRoute, reauthenticate)
  .openapi(reauthenticationOptionsRoute, reauthenticationOptionsHandler)
