import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { hashOpaqueToken, sessionOfRefreshToken } from '../auth/opaque-tokens'
import { hashPassword } from '../auth/password'
import { logout } from '../db/sessions'
import { createUser, findTakenFields } from '../db/users'
import { takenError } from '../errors'
import { createRouter } from '../http/router'
import { withPasswordPolicy } from '../http/validation'
import { uuidv7 } from '../lib/ids'
import { enqueueAfterWrite, verificationJob } from '../mail/jobs'
import { requireAuth } from '../middleware/require-auth'
import { ipBudget } from '../rate-limit/ip-budget'
import { currentPasswordField, emailField, newPasswordField, usernameField } from '../schemas/fields'
import { bearerAuth, jsonRequest, jsonResponse, noAuth } from '../schemas/openapi'
import { bodyProblems } from '../schemas/problem'
import { tokenPairSchema } from '../schemas/token-pair'
import { publicUser, userEnvelope } from '../schemas/user'
import { signInWithPassword } from '../sign-in/attempt'
import { refreshSession } from '../sign-in/refresh'
import { completeSecondStep } from '../sign-in/second-step'

const signupBody = z.object({ username: usernameField, email: emailField, password: newPasswordField }).openapi('SignupRequest')

const signupRoute = createRoute({
  method: 'post',
  path: '/signup',
  operationId: 'signUp',
  tags: ['users'],
  summary: 'Create an account',
  description: 'Unknown fields are ignored: a `role` sent here does nothing; every account starts as `user`.',
  security: noAuth,
  middleware: [ipBudget()] as const,
  request: { body: jsonRequest(signupBody) },
  responses: {
    201: jsonResponse(userEnvelope, 'The new account'),
    ...bodyProblems({ 400: ['validation_failed'], 409: ['username_taken', 'email_taken'], 429: ['rate_limited'] }),
  },
})

const signup: RouteHandler<typeof signupRoute, AppEnv> = async (c) => {
  const { username, email, password } = c.req.valid('json')
  const { db, config, client } = c.var

  // Checked before hashing, so a taken name costs no PBKDF2 work; the unique index still
  // decides when two signups race.
  const [taken] = await findTakenFields(db, { username, email })
  if (taken) throw takenError(taken)

  const now = new Date()
  const passwordHash = await hashPassword(password, config)
  const created = await createUser(db, { id: uuidv7(now.getTime()), username, email, passwordHash, client, now })
  if (created.taken) throw takenError(created.taken)
  if (!created.user) throw new Error('the insert returned no row')
  await enqueueAfterWrite(c.env.MAIL_QUEUE, [verificationJob(created.user)], c.var.requestId)
  return c.json({ user: publicUser(created.user) }, 201)
}

const loginBody = z
  .object({
    username: z.string().min(1).max(254).optional().openapi({ description: 'A username or an email address' }),
    email: z.string().min(1).max(254).optional().openapi({ description: 'Accepted instead of username' }),
    password: currentPasswordField,
  })
  .refine((body) => body.username !== undefined || body.email !== undefined, {
    path: ['username'],
    message: 'is required (a username or an email address)',
    // Also when the password failed, so both missing fields are reported together.
    when: ({ value }) => typeof value === 'object' && value !== null,
  })
  .openapi('LoginRequest')

const loginRoute = createRoute({
  method: 'post',
  path: '/login',
  operationId: 'logIn',
  tags: ['users'],
  summary: 'Exchange a username (or email) and password for a token pair',
  description:
    'An unknown account and a wrong password get one byte-identical answer (given the same X-Request-Id), after the same hash work. On an account with a second factor the right password answers 403 mfa_required with an `mfa_token` (single use, 300 s, 5 wrong codes), the `methods` and `expires_in`: finish at POST /users/login/mfa.',
  security: noAuth,
  request: { body: jsonRequest(loginBody) },
  responses: {
    200: jsonResponse(tokenPairSchema, 'A token pair; sent with Cache-Control: no-store'),
    ...bodyProblems({
      400: ['validation_failed'],
      401: ['invalid_credentials'],
      403: ['account_disabled', 'email_not_verified', 'mfa_required'],
      429: ['rate_limited'],
    }),
  },
})

const loginMfaBody = z
  .object({
    mfa_token: z.string().min(1, 'is required').max(256),
    code: z.string().max(16).optional().openapi({ description: 'A TOTP code' }),
    recovery_code: z.string().max(64).optional().openapi({ description: 'A recovery code, instead of a TOTP code' }),
  })
  .refine((body) => (body.code === undefined) !== (body.recovery_code === undefined), {
    message: 'send exactly one of code and recovery_code',
    path: ['code'],
    when: ({ value }) => typeof value === 'object' && value !== null,
  })
  .openapi('LoginMfaRequest')

const loginMfaRoute = createRoute({
  method: 'post',
  path: '/login/mfa',
  operationId: 'logInSecondStep',
  tags: ['users'],
  summary: 'Finish a login with a second factor',
  description:
    "The `mfa_token` from the mfa_required answer, with a TOTP code or a recovery code. Wrong codes share the account's login backoff and lock and cost the token one of its 5 attempts; after that, or once used or expired, the token is invalid_mfa_token. Each code (time step) works once.",
  security: noAuth,
  request: { body: jsonRequest(loginMfaBody) },
  responses: {
    200: jsonResponse(tokenPairSchema, 'A token pair at aal2; sent with Cache-Control: no-store'),
    ...bodyProblems({
      400: ['validation_failed'],
      401: ['invalid_mfa_code', 'invalid_mfa_token'],
      403: ['account_disabled'],
      429: ['rate_limited'],
    }),
  },
})

const loginMfa: RouteHandler<typeof loginMfaRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const proof =
    body.code !== undefined
      ? ({ kind: 'totp', code: body.code } as const)
      : ({ kind: 'recovery_code', code: body.recovery_code ?? '' } as const)
  const pair = await completeSecondStep(c, { mfaToken: body.mfa_token, proof })
  c.header('Cache-Control', 'no-store')
  return c.json(pair, 200)
}

const login: RouteHandler<typeof loginRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const pair = await signInWithPassword(c, { identifier: body.username ?? body.email ?? '', password: body.password })
  c.header('Cache-Control', 'no-store')
  return c.json(pair, 200)
}

const refreshBody = z.object({ refresh_token: z.string().min(1, 'is required').max(512) }).openapi('RefreshRequest')

const refreshRoute = createRoute({
  method: 'post',
  path: '/refresh',
  operationId: 'refreshTokens',
  tags: ['users'],
  summary: 'Rotate a refresh token for a new token pair',
  description:
    'Each refresh token works once. Presented again within REFRESH_REUSE_GRACE_SECONDS of its rotation, while its replacement is unused, it is a retry and gets the same replacement back; otherwise presenting a rotated token (up to 512 rotations back) ends its whole session, because a copy of it is in other hands.',
  security: noAuth,
  middleware: [ipBudget()] as const,
  request: { body: jsonRequest(refreshBody) },
  responses: {
    200: jsonResponse(tokenPairSchema, 'A new token pair for the same session; sent with Cache-Control: no-store'),
    ...bodyProblems({ 400: ['validation_failed'], 401: ['invalid_refresh_token'], 429: ['rate_limited'] }),
  },
})

const refresh: RouteHandler<typeof refreshRoute, AppEnv> = async (c) => {
  const pair = await refreshSession(c, c.req.valid('json').refresh_token)
  c.header('Cache-Control', 'no-store')
  return c.json(pair, 200)
}

const logoutBody = z
  .object({
    refresh_token: z.string().max(512).optional().openapi({ description: "Also ends that token's session, if it is yours" }),
  })
  .openapi('LogoutRequest')

const signOutRoute = createRoute({
  method: 'post',
  path: '/logout',
  operationId: 'logOut',
  tags: ['users'],
  summary: 'End the current session',
  description: "The session's access and refresh tokens stop working at once.",
  middleware: [requireAuth()] as const,
  security: bearerAuth,
  request: { body: jsonRequest(logoutBody, false) },
  responses: {
    204: { description: 'Signed out' },
    ...bodyProblems({ 400: ['validation_failed'], 401: ['unauthorized'] }),
  },
})

const signOut: RouteHandler<typeof signOutRoute, AppEnv> = async (c) => {
  const { refresh_token } = c.req.valid('json')
  const { db, user, session, client } = c.var
  const tokenSession = refresh_token ? sessionOfRefreshToken(refresh_token) : undefined
  const refreshToken = tokenSession && refresh_token ? { sessionId: tokenSession, hash: await hashOpaqueToken(refresh_token) } : undefined
  await logout(db, { sessionId: session.id, userId: user.id, refreshToken, client, now: new Date() })
  return c.body(null, 204)
}

/** Accounts and sessions for people who are not signed in yet (and logout). Mounted at /api/v1/users. */
export const users = createRouter()
  .openapi(
    signupRoute,
    signup,
    withPasswordPolicy('password', (body) => ({ password: body.password, username: body.username, email: body.email })),
  )
  .openapi(loginRoute, login)
  .openapi(loginMfaRoute, loginMfa)
  .openapi(refreshRoute, refresh)
  .openapi(signOutRoute, signOut)
