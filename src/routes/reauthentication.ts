import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { createRouter } from '../http/router'
import { signedIn } from '../http/signed-in'
import { requireAuth } from '../middleware/require-auth'
import { currentPasswordField } from '../schemas/fields'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { authenticationResponseSchema, challengeIdSchema, requestOptionsSchema } from '../schemas/passkeys'
import { bodyProblems, problems } from '../schemas/problem'
import { reauthenticationOptions } from '../sign-in/passkeys'
import { reauthenticateWith } from '../sign-in/reauthenticate'

const _unauthorized = problems({ 401: ['unauthorized'] })

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
  path: '/',
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
    return c.json(
      await reauthenticateWith(c.var.signIn, signedIn(c), { passkey: { challengeId: body.challenge_id ?? '', credential: body.passkey } }),
      200,
    )
  const secondFactor =
    body.code !== undefined
      ? ({ kind: 'totp', code: body.code } as const)
      : body.recovery_code !== undefined
        ? ({ kind: 'recovery_code', code: body.recovery_code } as const)
        : undefined
  return c.json(await reauthenticateWith(c.var.signIn, signedIn(c), { password: body.password ?? '', secondFactor }), 200)
}

const reauthenticationOptionsRoute = createRoute({
  method: 'post',
  path: '/passkey-options',
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
  return c.json(await reauthenticationOptions(c.var.signIn, { user: c.var.user, session: c.var.session }), 200)
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** A new proof on the signed-in session. Mounted at /api/v1/users/me/reauthenticate. */
export const reauthenticationRoutes = authenticated
  .openapi(reauthenticateRoute, reauthenticate)
  .openapi(reauthenticationOptionsRoute, reauthenticationOptionsHandler)
