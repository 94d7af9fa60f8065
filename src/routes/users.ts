import { createRoute, z } from '@hono/zod-openapi'
import { hashPassword, verifyAgainstNobody, verifyPassword } from '../auth/password'
import { PASSWORD_MAX_CODE_POINTS } from '../auth/password-policy'
import { hashRefreshToken, newRefreshToken } from '../auth/refresh-tokens'
import { tokenPair } from '../auth/token-pair'
import { auditStatement } from '../db/audit'
import {
  deleteSessionStatement,
  deleteSessionsForLogout,
  findSessionOfSpentToken,
  insertSessionStatement,
  rotateRefreshToken,
} from '../db/sessions'
import {
  findTakenFields,
  findUserByLogin,
  insertUserStatement,
  normaliseLoginIdentifier,
  recordLoginStatement,
  takenFieldOf,
  type UniqueField,
} from '../db/users'
import { ApiError } from '../errors'
import { uuidv7 } from '../ids'
import { log } from '../log'
import { accountLoginKey, admitLogin, ipBudget, rateLimited } from '../middleware/rate-limit'
import { requireAuth } from '../middleware/require-auth'
import { LOCK_AFTER_FAILURES } from '../rate-limiter'
import { createRouter } from '../router'
import { jsonBody, jsonContent, problems, publicUser, tokenPairSchema, userEnvelope } from '../schemas'
import { withPasswordPolicy } from '../validation'

export const users = createRouter()

const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/

export const usernameField = z
  .string()
  .regex(USERNAME_PATTERN, 'must be 3-32 characters of A-Z a-z 0-9 _ . - starting with a letter or digit')
  .openapi({ example: 'ada_lovelace' })

export const emailField = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be a valid email address'))
  .openapi({ example: 'ada@example.com' })

export const newPasswordField = z.string().openapi({
  description: `At least PASSWORD_MIN_LENGTH (default 15) and at most ${PASSWORD_MAX_CODE_POINTS} characters after NFC normalisation; not a commonly used password, not one repeated character, and not containing the username or the email's local part.`,
})

export function takenError(field: UniqueField): ApiError {
  return field === 'username'
    ? new ApiError(409, 'username_taken', 'That username is already in use.')
    : new ApiError(409, 'email_taken', 'That email address is already in use.')
}

const signupBody = z.object({ username: usernameField, email: emailField, password: newPasswordField }).openapi('SignupRequest')

users.openapi(
  createRoute({
    method: 'post',
    path: '/signup',
    tags: ['users'],
    summary: 'Create an account',
    description: 'Unknown fields are ignored: a `role` sent here does nothing; every account starts as `user`.',
    middleware: [ipBudget()] as const,
    request: { body: jsonBody(signupBody) },
    responses: {
      201: jsonContent(userEnvelope, 'The new account'),
      ...problems({
        400: ['invalid_json', 'validation_failed'],
        409: ['username_taken', 'email_taken'],
        413: ['payload_too_large'],
        415: ['unsupported_media_type'],
        429: ['rate_limited'],
      }),
    },
  }),
  async (c) => {
    const { username, email, password } = c.req.valid('json')
    const { db, config } = c.var

    // Checked before hashing, so a taken name costs no PBKDF2 work; the unique index below
    // still decides when two signups race.
    const [taken] = await findTakenFields(db, { username, email })
    if (taken) throw takenError(taken)

    const now = new Date()
    const passwordHash = await hashPassword(password, config)
    const id = uuidv7(now.getTime())
    let user
    try {
      ;[[user]] = await db.batch([
        insertUserStatement(db, { id, username, email, passwordHash, now }),
        auditStatement(db, { action: 'user.signup', actorId: id, targetId: id }, c.var.client, now),
      ])
    } catch (error) {
      const field = takenFieldOf(error)
      if (field) throw takenError(field)
      throw error
    }
    if (!user) throw new Error('insert returned no row')
    return c.json({ user: publicUser(user) }, 201)
  },
  withPasswordPolicy('password', (body) => ({ password: body.password, username: body.username, email: body.email })),
)

const loginBody = z
  .object({
    username: z.string().min(1).max(254).optional().openapi({ description: 'A username or an email address' }),
    email: z.string().min(1).max(254).optional().openapi({ description: 'Accepted instead of username' }),
    password: z
      .string()
      .min(1, 'is required')
      .max(4 * PASSWORD_MAX_CODE_POINTS),
  })
  .refine((body) => body.username !== undefined || body.email !== undefined, {
    path: ['username'],
    message: 'is required (a username or an email address)',
    // Also when the password failed, so both missing fields are reported together.
    when: ({ value }) => typeof value === 'object' && value !== null,
  })
  .openapi('LoginRequest')

const invalidCredentials = () => new ApiError(401, 'invalid_credentials', 'The username or password is incorrect.')

users.openapi(
  createRoute({
    method: 'post',
    path: '/login',
    tags: ['users'],
    summary: 'Exchange a username (or email) and password for a token pair',
    description:
      'An unknown account and a wrong password get one byte-identical answer (given the same X-Request-Id), after the same hash work.',
    request: { body: jsonBody(loginBody) },
    responses: {
      200: jsonContent(tokenPairSchema, 'A token pair; sent with Cache-Control: no-store'),
      ...problems({
        400: ['invalid_json', 'validation_failed'],
        401: ['invalid_credentials'],
        403: ['account_disabled'],
        429: ['rate_limited'],
      }),
    },
  }),
  async (c) => {
    const body = c.req.valid('json')
    const { db, config } = c.var
    const identifier = normaliseLoginIdentifier(body.username ?? body.email ?? '')

    const user = await findUserByLogin(db, identifier)
    // An account's username and email share one failure streak; a name with no account has its own.
    const loginKey = user ? accountLoginKey(user.id) : `${identifier.kind}:${identifier.value}`
    const admission = await admitLogin(c, loginKey, user?.lastLoginAt)
    // Refused before any hash work, and alike whether or not the account exists.
    if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)

    const check = user ? await verifyPassword(body.password, user.passwordHash, config) : await verifyAgainstNobody(body.password, config)
    // Never before the attempt's place among the account's attempts: see last_login_at below.
    const now = new Date(Math.max(Date.now(), admission.at))
    if (!user || !check.valid || user.disabled) {
      const reason = !user ? 'unknown_account' : !check.valid ? 'wrong_password' : 'account_disabled'
      const locked = admission.failuresSoFar + 1 === LOCK_AFTER_FAILURES
      // Written for unknown accounts too, so both failures do the same work.
      await auditStatement(
        db,
        { action: 'user.login_failed', targetId: user?.id ?? null, details: { reason, ...(locked ? { locked: true } : {}) } },
        c.var.client,
        now,
      )
      // Only with the right password may the answer reveal that the account exists.
      if (reason === 'account_disabled') throw new ApiError(403, 'account_disabled', 'This account has been disabled.')
      throw invalidCredentials()
    }
    const refreshToken = newRefreshToken()
    const session = { id: uuidv7(now.getTime()), expiresAt: new Date(now.getTime() + config.refreshTokenTtlSeconds * 1000) }
    const newHash = check.needsRehash ? await hashPassword(body.password, config) : undefined
    // Signing needs nothing from the write, so the two overlap; the answer waits for both, so the
    // session exists before the client can use its tokens.
    const [, pair] = await Promise.all([
      db.batch([
        insertSessionStatement(db, {
          ...session,
          userId: user.id,
          refreshTokenHash: await hashRefreshToken(refreshToken),
          userAgent: c.req.header('User-Agent'),
          now,
        }),
        // last_login_at also ends the failure streak, at the account's next admission.
        recordLoginStatement(db, user.id, now, newHash),
        auditStatement(
          db,
          { action: 'user.login', actorId: user.id, targetId: user.id, details: { session_id: session.id } },
          c.var.client,
          now,
        ),
      ]),
      tokenPair(config, user, { ...session, refreshToken }, now),
    ])

    c.header('Cache-Control', 'no-store')
    return c.json(pair, 200)
  },
)

const refreshBody = z.object({ refresh_token: z.string().min(1, 'is required').max(512) }).openapi('RefreshRequest')

const invalidRefreshToken = () =>
  new ApiError(401, 'invalid_refresh_token', 'The refresh token is unknown, expired, revoked or already used.')

users.openapi(
  createRoute({
    method: 'post',
    path: '/refresh',
    tags: ['users'],
    summary: 'Rotate a refresh token for a new token pair',
    description:
      'Each refresh token works once. Presenting one that was already rotated ends its whole session, because a copy of it is in other hands.',
    middleware: [ipBudget()] as const,
    request: { body: jsonBody(refreshBody) },
    responses: {
      200: jsonContent(tokenPairSchema, 'A new token pair for the same session; sent with Cache-Control: no-store'),
      ...problems({ 400: ['invalid_json', 'validation_failed'], 401: ['invalid_refresh_token'], 429: ['rate_limited'] }),
    },
  }),
  async (c) => {
    const { refresh_token } = c.req.valid('json')
    const { db, config } = c.var
    const now = new Date()
    const presentedHash = await hashRefreshToken(refresh_token)
    const refreshToken = newRefreshToken()

    const rotated = await rotateRefreshToken(db, { oldHash: presentedHash, newHash: await hashRefreshToken(refreshToken), now })
    if (!rotated) {
      const reused = await findSessionOfSpentToken(db, presentedHash)
      if (reused) {
        await db.batch([
          deleteSessionStatement(db, reused.sessionId),
          auditStatement(
            db,
            { action: 'session.reuse_detected', targetId: reused.userId, details: { session_id: reused.sessionId } },
            c.var.client,
            now,
          ),
        ])
        log('warn', 'session.reuse_detected', { request_id: c.var.requestId, session_id: reused.sessionId, user_id: reused.userId })
      }
      throw invalidRefreshToken()
    }
    if (rotated.user.disabled) {
      // Disabling already ends every session; this only closes the gap of a concurrent refresh.
      await deleteSessionStatement(db, rotated.session.id)
      throw invalidRefreshToken()
    }

    c.header('Cache-Control', 'no-store')
    const session = { id: rotated.session.id, expiresAt: rotated.session.expiresAt, refreshToken }
    return c.json(await tokenPair(config, rotated.user, session, now), 200)
  },
)

const logoutBody = z
  .object({
    refresh_token: z.string().max(512).optional().openapi({ description: "Also ends that token's session, if it is yours" }),
  })
  .openapi('LogoutRequest')

users.openapi(
  createRoute({
    method: 'post',
    path: '/logout',
    tags: ['users'],
    summary: 'End the current session',
    description: "The session's access and refresh tokens stop working at once.",
    middleware: [requireAuth()] as const,
    security: [{ bearer: [] }],
    request: { body: jsonBody(logoutBody, false) },
    responses: {
      204: { description: 'Signed out' },
      ...problems({ 400: ['invalid_json', 'validation_failed'], 401: ['unauthorized'] }),
    },
  }),
  async (c) => {
    const { refresh_token } = c.req.valid('json')
    const { db, user, session } = c.var
    const refreshTokenHash = refresh_token ? await hashRefreshToken(refresh_token) : undefined
    await db.batch([
      deleteSessionsForLogout(db, { sessionId: session.id, userId: user.id, refreshTokenHash }),
      auditStatement(
        db,
        { action: 'user.logout', actorId: user.id, targetId: user.id, details: { session_id: session.id } },
        c.var.client,
        new Date(),
      ),
    ])
    return c.body(null, 204)
  },
)
