import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { hashOpaqueToken, newRefreshToken, rotatedRefreshToken, rotationsBehind, sessionOfRefreshToken } from '../auth/opaque-tokens'
import { hashPassword, verifyAgainstNobody, verifyPassword } from '../auth/password'
import { signAccessToken } from '../auth/tokens'
import type { Config } from '../config'
import { recordEvent } from '../db/audit'
import type { UserRow } from '../db/schema'
import {
  endSession,
  findLiveSession,
  findRefreshState,
  findSessionOfSpentToken,
  logout,
  revokeReusedSession,
  rotateRefreshToken,
  startSession,
} from '../db/sessions'
import { createUser, findTakenFields, findUserByLogin, normaliseLoginIdentifier } from '../db/users'
import { ApiError, takenError } from '../errors'
import { createRouter } from '../http/router'
import { withPasswordPolicy } from '../http/validation'
import { uuidv7 } from '../lib/ids'
import { log } from '../log'
import { enqueueAfterWrite, verificationJob } from '../mail/jobs'
import { requireAuth } from '../middleware/require-auth'
import { accountSubject, admitPasswordAttempt, type LoginSubject, rateLimited } from '../rate-limit/client'
import { LOCK_AFTER_FAILURES } from '../rate-limit/durable-object'
import { ipBudget } from '../rate-limit/ip-budget'
import { currentPasswordField, emailField, newPasswordField, usernameField } from '../schemas/fields'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { problems } from '../schemas/problem'
import { type TokenPair, tokenPairSchema } from '../schemas/token-pair'
import { publicUser, userEnvelope } from '../schemas/user'

const signupBody = z.object({ username: usernameField, email: emailField, password: newPasswordField }).openapi('SignupRequest')

const signupRoute = createRoute({
  method: 'post',
  path: '/signup',
  tags: ['users'],
  summary: 'Create an account',
  description: 'Unknown fields are ignored: a `role` sent here does nothing; every account starts as `user`.',
  middleware: [ipBudget()] as const,
  request: { body: jsonRequest(signupBody) },
  responses: {
    201: jsonResponse(userEnvelope, 'The new account'),
    ...problems({
      400: ['invalid_json', 'validation_failed'],
      409: ['username_taken', 'email_taken'],
      413: ['payload_too_large'],
      415: ['unsupported_media_type'],
      429: ['rate_limited'],
    }),
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

const invalidCredentials = () => new ApiError(401, 'invalid_credentials', 'The username or password is incorrect.')

const loginRoute = createRoute({
  method: 'post',
  path: '/login',
  tags: ['users'],
  summary: 'Exchange a username (or email) and password for a token pair',
  description:
    'An unknown account and a wrong password get one byte-identical answer (given the same X-Request-Id), after the same hash work.',
  request: { body: jsonRequest(loginBody) },
  responses: {
    200: jsonResponse(tokenPairSchema, 'A token pair; sent with Cache-Control: no-store'),
    ...problems({
      400: ['invalid_json', 'validation_failed'],
      401: ['invalid_credentials'],
      403: ['account_disabled', 'email_not_verified'],
      429: ['rate_limited'],
    }),
  },
})

const login: RouteHandler<typeof loginRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const { db, config, client } = c.var
  const identifier = normaliseLoginIdentifier(body.username ?? body.email ?? '')

  const user = await findUserByLogin(db, identifier)
  // An account's username and email share one failure streak; a name with no account has its own.
  const subject: LoginSubject = user ? accountSubject(user.id) : { kind: 'name', name: `${identifier.kind}:${identifier.value}` }
  const admission = await admitPasswordAttempt(c, subject, user?.lastAuthAt)
  // Refused before any hash work, and alike whether or not the account exists.
  if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)

  const check = user ? await verifyPassword(body.password, user.passwordHash, config) : await verifyAgainstNobody(body.password, config)
  // Never before the attempt's place among the account's attempts (see the limiter's Streak).
  const now = new Date(Math.max(Date.now(), admission.at))
  const unverified = config.emailVerificationRequired && !!user && !user.emailVerified
  if (!user || !check.valid || user.disabled || unverified) {
    const reason = !user ? 'unknown_account' : !check.valid ? 'wrong_password' : user.disabled ? 'account_disabled' : 'email_not_verified'
    const locked = admission.failuresSoFar + 1 === LOCK_AFTER_FAILURES
    // Recorded for unknown accounts too, so both failures do the same work.
    const details = { reason, ...(locked ? { locked: true } : {}) }
    await recordEvent(db, { action: 'user.login_failed', targetId: user?.id ?? null, details }, client, now)
    // Only with the right password may the answer reveal that the account exists.
    if (reason === 'account_disabled') throw new ApiError(403, 'account_disabled', 'This account has been disabled.')
    if (reason === 'email_not_verified') {
      throw new ApiError(403, 'email_not_verified', 'Confirm your email address first: follow the link in the verification mail.')
    }
    throw invalidCredentials()
  }

  const id = uuidv7(now.getTime())
  const session = { id, expiresAt: new Date(now.getTime() + config.refreshTokenTtlSeconds * 1000), refreshToken: newRefreshToken(id) }
  const { refreshToken } = session
  const newPasswordHash = check.needsRehash ? await hashPassword(body.password, config) : undefined
  // Signing needs nothing from the write, so the two overlap; the answer waits for both, so the
  // session exists before the client can use its tokens.
  const [started, pair] = await Promise.all([
    startSession(db, {
      ...session,
      userId: user.id,
      refreshTokenHash: await hashOpaqueToken(refreshToken),
      userAgent: c.req.header('User-Agent'),
      checkedPasswordHash: user.passwordHash,
      newPasswordHash,
      client,
      now,
    }),
    tokenPair(config, user, session, now),
  ])
  // The password changed while this login checked the old one: the change wins.
  if (!started) throw invalidCredentials()
  c.header('Cache-Control', 'no-store')
  return c.json(pair, 200)
}

const refreshBody = z.object({ refresh_token: z.string().min(1, 'is required').max(512) }).openapi('RefreshRequest')

const invalidRefreshToken = () =>
  new ApiError(401, 'invalid_refresh_token', 'The refresh token is unknown, expired, revoked or already used.')

const refreshRoute = createRoute({
  method: 'post',
  path: '/refresh',
  tags: ['users'],
  summary: 'Rotate a refresh token for a new token pair',
  description:
    'Each refresh token works once. Presented again within REFRESH_REUSE_GRACE_SECONDS of its rotation, while its replacement is unused, it is a retry and gets the same replacement back; otherwise presenting a rotated token (up to 512 rotations back) ends its whole session, because a copy of it is in other hands.',
  middleware: [ipBudget()] as const,
  request: { body: jsonRequest(refreshBody) },
  responses: {
    200: jsonResponse(tokenPairSchema, 'A new token pair for the same session; sent with Cache-Control: no-store'),
    ...problems({ 400: ['invalid_json', 'validation_failed'], 401: ['invalid_refresh_token'], 429: ['rate_limited'] }),
  },
})

const refresh: RouteHandler<typeof refreshRoute, AppEnv> = async (c) => {
  const { refresh_token } = c.req.valid('json')
  const { db, config, client } = c.var
  const now = new Date()
  const sessionId = sessionOfRefreshToken(refresh_token)
  const presentedHash = await hashOpaqueToken(refresh_token)
  const refreshToken = await rotatedRefreshToken(config.refreshKey, refresh_token)
  const newHash = await hashOpaqueToken(refreshToken)

  const rotated = await rotateRefreshToken(db, { sessionId, oldHash: presentedHash, newHash, now })
  if (!rotated) {
    const replay = await replayOf(c, refresh_token, { sessionId, presentedHash, newHash, now })
    // The token was rotated moments ago and its replacement is still the session's: a client
    // retrying a refresh whose answer it lost. It gets the same replacement back.
    const live = replay?.retry ? await findLiveSession(db, replay.sessionId, now) : undefined
    if (live && !live.user.disabled) {
      c.header('Cache-Control', 'no-store')
      return c.json(await tokenPair(config, live.user, { ...live.session, refreshToken }, now), 200)
    }
    if (replay) {
      await revokeReusedSession(db, { ...replay, client, now })
      log('warn', 'session.reuse_detected', { request_id: c.var.requestId, session_id: replay.sessionId, user_id: replay.userId })
    }
    throw invalidRefreshToken()
  }
  if (rotated.user.disabled) {
    // Disabling already ends every session; this only closes the gap of a concurrent refresh.
    await endSession(db, rotated.session.id)
    throw invalidRefreshToken()
  }
  c.header('Cache-Control', 'no-store')
  return c.json(await tokenPair(config, rotated.user, { ...rotated.session, refreshToken }, now), 200)
}

/**
 * Whether a refresh token that is not its session's current one was once: then it is being
 * presented again, by a client retrying (the latest rotation, within the grace window, and its
 * replacement still unused) or by someone holding a copy. A token that names its session is
 * walked forward to that session's current token; one from before is looked up among the spent.
 */
async function replayOf(
  c: Context<AppEnv>,
  presented: string,
  token: { sessionId: string | undefined; presentedHash: string; newHash: string; now: Date },
): Promise<{ sessionId: string; userId: string; retry: boolean } | undefined> {
  const { db, config } = c.var
  const withinGrace = (rotatedAt: Date) => token.now.getTime() - rotatedAt.getTime() < config.refreshReuseGraceSeconds * 1000
  if (token.sessionId) {
    const state = await findRefreshState(db, token.sessionId)
    const behind = state && (await rotationsBehind(config.refreshKey, presented, state))
    if (!state || behind === undefined) return undefined
    return { sessionId: state.sessionId, userId: state.userId, retry: behind === 1 && withinGrace(state.rotatedAt) }
  }
  const spent = await findSessionOfSpentToken(db, token.presentedHash)
  if (!spent) return undefined
  return { sessionId: spent.sessionId, userId: spent.userId, retry: spent.currentHash === token.newHash && withinGrace(spent.spentAt) }
}

const logoutBody = z
  .object({
    refresh_token: z.string().max(512).optional().openapi({ description: "Also ends that token's session, if it is yours" }),
  })
  .openapi('LogoutRequest')

const signOutRoute = createRoute({
  method: 'post',
  path: '/logout',
  tags: ['users'],
  summary: 'End the current session',
  description: "The session's access and refresh tokens stop working at once.",
  middleware: [requireAuth()] as const,
  security: bearerAuth,
  request: { body: jsonRequest(logoutBody, false) },
  responses: {
    204: { description: 'Signed out' },
    ...problems({ 400: ['invalid_json', 'validation_failed'], 401: ['unauthorized'] }),
  },
})

const signOut: RouteHandler<typeof signOutRoute, AppEnv> = async (c) => {
  const { refresh_token } = c.req.valid('json')
  const { db, user, session, client } = c.var
  const refreshTokenHash = refresh_token ? await hashOpaqueToken(refresh_token) : undefined
  await logout(db, { sessionId: session.id, userId: user.id, refreshTokenHash, client, now: new Date() })
  return c.body(null, 204)
}

/** The body login and refresh answer with: a fresh access token beside the session's refresh token. */
async function tokenPair(
  config: Config,
  user: UserRow,
  session: { id: string; expiresAt: Date; refreshToken: string },
  now: Date,
): Promise<TokenPair> {
  const nowSeconds = Math.floor(now.getTime() / 1000)
  return {
    access_token: await signAccessToken(config, { userId: user.id, sessionId: session.id, role: user.role }, nowSeconds),
    token_type: 'Bearer',
    expires_in: config.accessTokenTtlSeconds,
    refresh_token: session.refreshToken,
    refresh_expires_in: Math.max(0, Math.floor((session.expiresAt.getTime() - now.getTime()) / 1000)),
    user: publicUser(user),
  }
}

/** Accounts and sessions for people who are not signed in yet (and logout). Mounted at /api/v1/users. */
export const users = createRouter()
  .openapi(
    signupRoute,
    signup,
    withPasswordPolicy('password', (body) => ({ password: body.password, username: body.username, email: body.email })),
  )
  .openapi(loginRoute, login)
  .openapi(refreshRoute, refresh)
  .openapi(signOutRoute, signOut)
