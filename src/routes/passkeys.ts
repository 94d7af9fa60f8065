import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { listPasskeys, removePasskey, renamePasskey } from '../db/passkeys'
import { problem } from '../errors'
import { registerPasskey, registrationOptions } from '../factors/passkeys'
import { createRouter } from '../http/router'
import { signedIn } from '../http/signed-in'
import { requireAuth } from '../middleware/require-auth'
import { wayInPasswordField } from '../schemas/fields'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { challengeIdSchema, creationOptionsSchema, passkeyNameSchema, passkeySchema, registrationResponseSchema } from '../schemas/passkeys'
import { bodyProblems, problems } from '../schemas/problem'
import { requireAddingWayIn, requireRecentProof, requireVerifiedAddress } from '../sign-in/recent-proof'
import { passkeyView } from '../views/passkey'

const passkeyEnvelope = z.object({ passkey: passkeySchema }).openapi('PasskeyEnvelope')
const idParam = z.object({
  id: z
    .string()
    .max(64)
    .openapi({ param: { name: 'id', in: 'path' } }),
})

const optionsBody = z
  .object({
    password: wayInPasswordField,
  })
  .openapi('PasskeyOptionsRequest')

const optionsRoute = createRoute({
  method: 'post',
  path: '/options',
  operationId: 'startPasskeyRegistration',
  tags: ['passkeys'],
  summary: 'Options for adding a passkey',
  description:
    'Adding a way in: a recent proof, a verified address and, when the account has a password, that password in the body (a wrong one counts like a wrong login). Creation options (resident key and user verification required, attestation none, your passkeys excluded) with a challenge bound to this session: single use, 5 minutes.',
  security: bearerAuth,
  request: { body: jsonRequest(optionsBody, false) },
  responses: {
    200: jsonResponse(creationOptionsSchema, 'Pass `options` to navigator.credentials.create()'),
    ...bodyProblems({
      400: ['validation_failed'],
      401: ['unauthorized'],
      403: ['reauthentication_required', 'email_not_verified', 'invalid_password'],
      409: ['passkey_limit'],
      429: ['rate_limited'],
    }),
  },
})

const options: RouteHandler<typeof optionsRoute, AppEnv> = async (c) => {
  await requireAddingWayIn(c.var.signIn, signedIn(c), c.req.valid('json').password)
  return c.json(await registrationOptions(c.var.signIn, signedIn(c)), 200)
}

const registerBody = z
  .object({ challenge_id: challengeIdSchema, credential: registrationResponseSchema, name: passkeyNameSchema.optional() })
  .openapi('PasskeyRegistrationRequest')

const registerRoute = createRoute({
  method: 'post',
  path: '/',
  operationId: 'addPasskey',
  tags: ['passkeys'],
  summary: 'Add a passkey',
  description:
    "A sensitive action. The authenticator's answer to the options, checked against this API's relying party and origins. The account's first second factor comes with ten recovery codes, shown once, and ends every other session of the account (as a first TOTP factor does). Adding a passkey raises no session.",
  security: bearerAuth,
  request: { body: jsonRequest(registerBody) },
  responses: {
    201: jsonResponse(
      passkeyEnvelope.extend({ recovery_codes: z.array(z.string()).optional() }).openapi('AddedPasskey'),
      'The passkey (and, for a first second factor, the recovery codes)',
    ),
    ...bodyProblems({
      400: ['validation_failed', 'invalid_challenge'],
      401: ['unauthorized', 'passkey_failed'],
      403: ['reauthentication_required', 'email_not_verified'],
      409: ['passkey_exists', 'passkey_limit'],
      429: ['rate_limited'],
    }),
  },
})

const register: RouteHandler<typeof registerRoute, AppEnv> = async (c) => {
  await requireRecentProof(c.var.signIn, signedIn(c))
  requireVerifiedAddress(c.var.user)
  const body = c.req.valid('json')
  const { passkey, recoveryCodes } = await registerPasskey(c.var.signIn, signedIn(c), {
    challengeId: body.challenge_id,
    credential: body.credential,
    name: body.name,
  })
  return c.json({ passkey: passkeyView(passkey), ...(recoveryCodes ? { recovery_codes: recoveryCodes } : {}) }, 201)
}

const listRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listMyPasskeys',
  tags: ['passkeys'],
  summary: 'Your passkeys',
  security: bearerAuth,
  responses: {
    200: jsonResponse(z.object({ passkeys: z.array(passkeySchema) }).openapi('PasskeyList'), 'Oldest first'),
    ...problems({ 401: ['unauthorized'] }),
  },
})

const list: RouteHandler<typeof listRoute, AppEnv> = async (c) => {
  const rows = await listPasskeys(c.var.db, c.var.user.id)
  return c.json({ passkeys: rows.map(passkeyView) }, 200)
}

const renameRoute = createRoute({
  method: 'patch',
  path: '/{id}',
  operationId: 'renamePasskey',
  tags: ['passkeys'],
  summary: 'Rename a passkey',
  security: bearerAuth,
  request: { params: idParam, body: jsonRequest(z.object({ name: passkeyNameSchema }).openapi('PasskeyRenameRequest')) },
  responses: {
    200: jsonResponse(passkeyEnvelope, 'The renamed passkey'),
    ...bodyProblems({ 400: ['validation_failed'], 401: ['unauthorized'], 404: ['not_found'] }),
  },
})

const rename: RouteHandler<typeof renameRoute, AppEnv> = async (c) => {
  const row = await renamePasskey(c.var.db, { userId: c.var.user.id, id: c.req.valid('param').id, name: c.req.valid('json').name })
  if (!row) throw problem('not_found')
  return c.json({ passkey: passkeyView(row) }, 200)
}

const removeRoute = createRoute({
  method: 'delete',
  path: '/{id}',
  operationId: 'removePasskey',
  tags: ['passkeys'],
  summary: 'Remove a passkey',
  description:
    'A sensitive action. Refused when it is the last way to sign in (no password, no other passkey, no linked identity). With the last second factor go the recovery codes, and sessions that stood on a passkey drop to aal1.',
  security: bearerAuth,
  request: { params: idParam },
  responses: {
    204: { description: 'Removed' },
    ...problems({ 401: ['unauthorized'], 403: ['reauthentication_required'], 404: ['not_found'], 409: ['last_sign_in_method'] }),
  },
})

const remove: RouteHandler<typeof removeRoute, AppEnv> = async (c) => {
  const { db, user, client } = c.var
  await requireRecentProof(c.var.signIn, signedIn(c))
  const outcome = await removePasskey(db, { userId: user.id, id: c.req.valid('param').id, client, now: new Date() })
  if (outcome !== 'removed') throw problem(outcome)
  return c.body(null, 204)
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** The signed-in user's passkeys. Mounted at /api/v1/users/me/passkeys. */
export const passkeys = authenticated
  .openapi(optionsRoute, options)
  .openapi(registerRoute, register)
  .openapi(listRoute, list)
  .openapi(renameRoute, rename)
  .openapi(removeRoute, remove)
