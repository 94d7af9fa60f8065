import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { findTotpFactor, needsTwoFactors, removeTotpFactor, secondFactorsOf } from '../db/factors'
import { problem } from '../errors'
import { confirmTotp, regenerateRecoveryCodes, startTotp } from '../factors/totp'
import { createRouter } from '../http/router'
import { signedIn } from '../http/signed-in'
import { requireAuth } from '../middleware/require-auth'
import { wayInPasswordField } from '../schemas/fields'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { bodyProblems, problems } from '../schemas/problem'
import { requireAddingWayIn, requireRecentProof } from '../sign-in/recent-proof'
import { totpView } from '../views/totp'

const mfaStatusSchema = z
  .object({
    totp: z
      .object({ enabled: z.literal(true), created_at: z.iso.datetime(), last_used_at: z.iso.datetime().nullable() })
      .nullable()
      .openapi({ description: 'The active authenticator app; null when none (a pending enrolment is not shown)' }),
    recovery_codes_left: z.int(),
    passkeys: z.int(),
  })
  .openapi('MfaStatus')

const getMfaRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'getMyMfa',
  tags: ['mfa'],
  summary: 'Your second factors',
  security: bearerAuth,
  responses: { 200: jsonResponse(mfaStatusSchema, 'Counts and dates; never a secret'), ...problems({ 401: ['unauthorized'] }) },
})

const getMfa: RouteHandler<typeof getMfaRoute, AppEnv> = async (c) => {
  const { db, user } = c.var
  const [factors, totp] = await Promise.all([secondFactorsOf(db, user.id), findTotpFactor(db, user.id)])
  return c.json(
    {
      totp: totpView(totp),
      recovery_codes_left: factors.recoveryCodesLeft,
      passkeys: factors.passkeys,
    },
    200,
  )
}

const enrolmentSchema = z
  .object({
    secret: z.string().openapi({ description: 'The shared secret, base32 (160 bits), for typing into an app' }),
    otpauth_uri: z
      .string()
      .openapi({ example: 'otpauth://totp/edge-users:ada?secret=...&issuer=edge-users&algorithm=SHA1&digits=6&period=30' }),
    qr_svg: z.string().openapi({ description: 'The URI as an SVG QR code' }),
  })
  .openapi('TotpEnrolment')

const startTotpBody = z
  .object({
    password: wayInPasswordField,
  })
  .openapi('StartTotpRequest')

const startTotpRoute = createRoute({
  method: 'post',
  path: '/totp',
  operationId: 'startTotpEnrolment',
  tags: ['mfa'],
  summary: 'Start adding an authenticator app',
  description:
    'Adding a way in: a recent proof, a verified address and, when the account has a password, that password in the body (a wrong one counts like a wrong login). A pending factor for 10 minutes (a new call replaces it): confirm it with a first code. Until then it is not shown and logins need no second step.',
  security: bearerAuth,
  request: { body: jsonRequest(startTotpBody, false) },
  responses: {
    200: jsonResponse(enrolmentSchema, 'The secret, shown this once'),
    ...bodyProblems({
      400: ['validation_failed'],
      401: ['unauthorized'],
      403: ['reauthentication_required', 'email_not_verified', 'invalid_password'],
      409: ['mfa_already_enabled'],
      429: ['rate_limited'],
    }),
  },
})

const startTotpHandler: RouteHandler<typeof startTotpRoute, AppEnv> = async (c) => {
  await requireAddingWayIn(c.var.signIn, signedIn(c), c.req.valid('json').password)
  return c.json(await startTotp(c.var.signIn, signedIn(c)), 200)
}

const recoveryCodesSchema = z
  .object({ recovery_codes: z.array(z.string()).openapi({ description: 'Ten single-use codes, shown this once' }) })
  .openapi('RecoveryCodes')

const codeBody = z.object({ code: z.string().min(1, 'is required').max(16) }).openapi('TotpCodeRequest')

const confirmTotpRoute = createRoute({
  method: 'post',
  path: '/totp/confirm',
  operationId: 'confirmTotpEnrolment',
  tags: ['mfa'],
  summary: 'Activate the pending authenticator app with its first code',
  description:
    'A sensitive action. The factor is active, ten recovery codes replace any earlier set, this session becomes aal2 (otp and mfa join its amr; its auth_time stays as it was: enrolling never renews a proof) and every other session ends. Throttled and audited like a login.',
  security: bearerAuth,
  request: { body: jsonRequest(codeBody) },
  responses: {
    200: jsonResponse(recoveryCodesSchema, 'The recovery codes'),
    ...bodyProblems({
      400: ['validation_failed'],
      401: ['unauthorized', 'invalid_mfa_code'],
      403: ['reauthentication_required'],
      429: ['rate_limited'],
    }),
  },
})

const confirmTotpHandler: RouteHandler<typeof confirmTotpRoute, AppEnv> = async (c) => {
  await requireRecentProof(c.var.signIn, signedIn(c))
  const codes = await confirmTotp(c.var.signIn, signedIn(c), c.req.valid('json').code)
  return c.json({ recovery_codes: codes }, 200)
}

const removeTotpRoute = createRoute({
  method: 'delete',
  path: '/totp',
  operationId: 'removeTotp',
  tags: ['mfa'],
  summary: 'Remove your authenticator app and its recovery codes',
  description:
    'A sensitive action at aal2. No session ends; each drops to the assurance it can still claim (aal1 for one that reached aal2 with a code). A password remains, so this never leaves the account without a way in.',
  security: bearerAuth,
  responses: {
    204: { description: 'Removed' },
    ...problems({ 401: ['unauthorized'], 403: ['reauthentication_required'], 404: ['not_found'] }),
  },
})

const removeTotpHandler: RouteHandler<typeof removeTotpRoute, AppEnv> = async (c) => {
  const { db, user, client } = c.var
  await requireRecentProof(c.var.signIn, signedIn(c))
  if (!(await removeTotpFactor(db, { userId: user.id, client, now: new Date() }))) throw problem('not_found')
  return c.body(null, 204)
}

const regenerateRoute = createRoute({
  method: 'post',
  path: '/recovery-codes',
  operationId: 'regenerateRecoveryCodes',
  tags: ['mfa'],
  summary: 'Replace your recovery codes',
  description: 'A sensitive action at aal2. The old set is dead at once.',
  security: bearerAuth,
  responses: {
    200: jsonResponse(recoveryCodesSchema, 'The new recovery codes'),
    ...problems({ 401: ['unauthorized'], 403: ['reauthentication_required'], 404: ['not_found'] }),
  },
})

const regenerate: RouteHandler<typeof regenerateRoute, AppEnv> = async (c) => {
  await requireRecentProof(c.var.signIn, signedIn(c))
  if (!needsTwoFactors(await secondFactorsOf(c.var.db, c.var.user.id)))
    throw problem('not_found', { context: 'There is no second factor (an authenticator app or a passkey) to back up.' })
  const codes = await regenerateRecoveryCodes(c.var.signIn, signedIn(c))
  return c.json({ recovery_codes: codes }, 200)
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** The signed-in user's second factors. Mounted at /api/v1/users/me/mfa. */
export const mfa = authenticated
  .openapi(getMfaRoute, getMfa)
  .openapi(startTotpRoute, startTotpHandler)
  .openapi(confirmTotpRoute, confirmTotpHandler)
  .openapi(removeTotpRoute, removeTotpHandler)
  .openapi(regenerateRoute, regenerate)
