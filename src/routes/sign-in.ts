import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { hashOpaqueToken, sessionOfRefreshToken } from '../auth/opaque-tokens'
import { logout } from '../db/sessions'
import { createRouter } from '../http/router'
import { signInAnswer } from '../http/sign-in-answer'
import { tokenPairOf } from '../http/token-pair'
import { requireAuth } from '../middleware/require-auth'
import { ipBudget } from '../rate-limit/ip-budget'
import { currentPasswordField } from '../schemas/fields'
import { bearerAuth, jsonRequest, jsonResponse, noAuth } from '../schemas/openapi'
import { authenticationResponseSchema, challengeIdSchema, requestOptionsSchema } from '../schemas/passkeys'
import { bodyProblems } from '../schemas/problem'
import { tokenPairSchema } from '../schemas/token-pair'
import { signInWithPassword } from '../sign-in/attempt'
import { secondStepOptions, signInOptions, signInWithPasskey } from '../sign-in/passkeys'
import { refreshSession } from '../sign-in/refresh'
import { completeSecondStep, type SecondStepAnswer } from '../sign-in/second-step'

const loginBody = z
  .object({
    username: z.string().min(1).max(254).optional().openapi({ description: 'A username or an email address', example: 'ada_lovelace' }),
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
    passkey: authenticationResponseSchema
      .optional()
      .openapi({ description: 'Instead of a code: an assertion for the options of POST /users/login/mfa/passkey-options' }),
    challenge_id: challengeIdSchema.optional().openapi({ description: "The passkey options' challenge_id" }),
  })
  .superRefine((body, ctx) => {
    const given = [body.code, body.recovery_code, body.passkey].filter((answer) => answer !== undefined).length
    if (given !== 1) ctx.addIssue({ code: 'custom', path: ['code'], message: 'send exactly one of code, recovery_code and passkey' })
    if (body.passkey !== undefined && body.challenge_id === undefined)
      ctx.addIssue({ code: 'custom', path: ['challenge_id'], message: 'is required with a passkey' })
  })
  .openapi('LoginMfaRequest')

const loginMfaRoute = createRoute({
  method: 'post',
  path: '/login/mfa',
  operationId: 'logInSecondStep',
  tags: ['users'],
  summary: 'Finish a login with a second factor',
  description:
    "The `mfa_token` from the mfa_required answer, with a TOTP code, a recovery code or a passkey assertion (options from POST /users/login/mfa/passkey-options; the account's own passkeys only). Wrong codes and failed assertions share the account's login backoff and lock and cost the token one of its 5 attempts; after that, or once used or expired, the token is invalid_mfa_token. Each code (time step) works once.",
  security: noAuth,
  request: { body: jsonRequest(loginMfaBody) },
  responses: {
    200: jsonResponse(tokenPairSchema, 'A token pair at aal2; sent with Cache-Control: no-store'),
    ...bodyProblems({
      400: ['validation_failed', 'invalid_challenge'],
      401: ['invalid_mfa_code', 'invalid_mfa_token'],
      403: ['account_disabled'],
      429: ['rate_limited'],
    }),
  },
})

const loginMfa: RouteHandler<typeof loginMfaRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const answer: SecondStepAnswer =
    body.passkey !== undefined
      ? { kind: 'passkey', challengeId: body.challenge_id ?? '', credential: body.passkey }
      : body.code !== undefined
        ? { kind: 'totp', code: body.code }
        : { kind: 'recovery_code', code: body.recovery_code ?? '' }
  const grant = await completeSecondStep(c.var.signIn, { mfaToken: body.mfa_token, answer })
  return c.json(tokenPairOf(grant), 200)
}

const secondStepOptionsRoute = createRoute({
  method: 'post',
  path: '/login/mfa/passkey-options',
  operationId: 'startPasskeySecondStep',
  tags: ['users'],
  summary: 'Options for finishing a login with a passkey',
  description:
    "Request options listing that account's passkeys only, with a new challenge bound to this `mfa_token` (single use, 5 minutes). The token itself is not spent.",
  security: noAuth,
  request: { body: jsonRequest(z.object({ mfa_token: z.string().min(1, 'is required').max(256) }).openapi('PasskeySecondStepRequest')) },
  responses: {
    200: jsonResponse(requestOptionsSchema, 'Pass `options` to navigator.credentials.get()'),
    ...bodyProblems({ 400: ['validation_failed'], 401: ['invalid_mfa_token'], 404: ['not_found'], 429: ['rate_limited'] }),
  },
})

const secondStepOptionsHandler: RouteHandler<typeof secondStepOptionsRoute, AppEnv> = async (c) => {
  return c.json(await secondStepOptions(c.var.signIn, c.req.valid('json').mfa_token), 200)
}

const passkeyLoginOptionsRoute = createRoute({
  method: 'post',
  path: '/passkeys/login/options',
  operationId: 'startPasskeyLogin',
  tags: ['users'],
  summary: 'Options for signing in with a passkey',
  description:
    'Request options with no allowCredentials: the browser offers the passkeys it holds for this relying party (discoverable credentials). Budgeted per client network.',
  security: noAuth,
  request: { body: jsonRequest(z.object({}).openapi('PasskeyLoginOptionsRequest')) },
  responses: {
    200: jsonResponse(requestOptionsSchema, 'Pass `options` to navigator.credentials.get()'),
    ...bodyProblems({ 400: ['validation_failed'], 429: ['rate_limited'] }),
  },
})

const passkeyLoginOptions: RouteHandler<typeof passkeyLoginOptionsRoute, AppEnv> = async (c) => {
  return c.json(await signInOptions(c.var.signIn), 200)
}

const passkeyLoginBody = z
  .object({ challenge_id: challengeIdSchema, credential: authenticationResponseSchema })
  .openapi('PasskeyLoginRequest')

const passkeyLoginRoute = createRoute({
  method: 'post',
  path: '/passkeys/login',
  operationId: 'logInWithPasskey',
  tags: ['users'],
  summary: 'Sign in with a passkey, without a password',
  description:
    "A user-verified passkey is two factors: the pair is aal2 with amr hwk mfa, and no second step follows. Failures share the account's login backoff and lock; an unknown credential spends from the network's budget.",
  security: noAuth,
  request: { body: jsonRequest(passkeyLoginBody) },
  responses: {
    200: jsonResponse(tokenPairSchema, 'A token pair at aal2; sent with Cache-Control: no-store'),
    ...bodyProblems({
      400: ['validation_failed', 'invalid_challenge'],
      401: ['passkey_failed'],
      403: ['account_disabled', 'email_not_verified'],
      429: ['rate_limited'],
    }),
  },
})

const passkeyLogin: RouteHandler<typeof passkeyLoginRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const grant = await signInWithPasskey(c.var.signIn, { challengeId: body.challenge_id, credential: body.credential })
  return c.json(tokenPairOf(grant), 200)
}

const login: RouteHandler<typeof loginRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const outcome = await signInWithPassword(c.var.signIn, { identifier: body.username ?? body.email ?? '', password: body.password })
  return c.json(signInAnswer(outcome), 200)
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
  const grant = await refreshSession(c.var.signIn, c.req.valid('json').refresh_token)
  return c.json(tokenPairOf(grant), 200)
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

/** Signing in with every first factor and the second step, refreshing and signing out. Mounted at /api/v1/users. */
export const signInRoutes = createRouter()
  .openapi(loginRoute, login)
  .openapi(loginMfaRoute, loginMfa)
  .openapi(secondStepOptionsRoute, secondStepOptionsHandler)
  .openapi(passkeyLoginOptionsRoute, passkeyLoginOptions)
  .openapi(passkeyLoginRoute, passkeyLogin)
  .openapi(refreshRoute, refresh)
  .openapi(signOutRoute, signOut)
