import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { listIdentities, unlinkIdentity } from '../db/identities'
import { problem } from '../errors'
import { requestOrigin } from '../http/provider-browser'
import { createRouter } from '../http/router'
import { signedIn } from '../http/signed-in'
import { requireAuth } from '../middleware/require-auth'
import { wayInPasswordField } from '../schemas/fields'
import { identitySchema } from '../schemas/identity'
import { bearerAuth, jsonRequest, jsonResponse } from '../schemas/openapi'
import { bodyProblems, problems } from '../schemas/problem'
import { completeLinking, providerOf, startLinking } from '../sign-in/provider'
import { requireAddingWayIn, requireRecentProof, requireVerifiedAddress } from '../sign-in/recent-proof'
import { identityView } from '../views/identity'

const listRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'listMyIdentities',
  tags: ['providers'],
  summary: 'Your linked provider identities',
  security: bearerAuth,
  responses: {
    200: jsonResponse(z.object({ identities: z.array(identitySchema) }).openapi('IdentityList'), 'Oldest first'),
    ...problems({ 401: ['unauthorized'] }),
  },
})

const list: RouteHandler<typeof listRoute, AppEnv> = async (c) => {
  const rows = await listIdentities(c.var.db, c.var.user.id)
  return c.json({ identities: rows.map(identityView) }, 200)
}

const providerParam = z.object({
  provider: z
    .string()
    .max(32)
    .openapi({ param: { name: 'provider', in: 'path' } }),
})

const codeChallengeField = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'must be the base64url SHA-256 of the code verifier (43 characters)')
  .openapi({ description: 'PKCE (S256): the verifier goes with the link code to /complete' })

const linkBody = z
  .object({
    redirect_uri: z.string().min(1, 'is required').max(2048),
    code_challenge: codeChallengeField,
    code_challenge_method: z.literal('S256', { message: 'must be S256' }).optional(),
    password: wayInPasswordField,
  })
  .openapi('IdentityLinkRequest')

const linkRoute = createRoute({
  method: 'post',
  path: '/{provider}/authorize',
  operationId: 'startIdentityLink',
  tags: ['providers'],
  summary: 'Link a provider identity to your account',
  description:
    'Adding a way in: a recent proof, a verified address and, when the account has a password, that password in the body (a wrong one counts like a wrong login). Returns our own authorize URL for the browser (single use, 10 minutes); the flow ends with a redirect to redirect_uri#link_code=<one-time code> (or #error=<code>). Nothing is linked until this account posts the code and its PKCE verifier to /complete.',
  security: bearerAuth,
  request: { params: providerParam, body: jsonRequest(linkBody) },
  responses: {
    200: jsonResponse(z.object({ authorize_url: z.string() }).openapi('IdentityLinkStart'), 'Send the browser there'),
    ...bodyProblems({
      400: ['validation_failed'],
      401: ['unauthorized'],
      403: ['reauthentication_required', 'email_not_verified', 'invalid_password'],
      404: ['not_found'],
      429: ['rate_limited'],
    }),
  },
})

const link: RouteHandler<typeof linkRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const provider = providerOf(c.var.config, c.req.valid('param').provider)
  await requireAddingWayIn(c.var.signIn, signedIn(c), body.password)
  const url = await startLinking(c.var.signIn, signedIn(c), {
    providerId: provider.id,
    origin: requestOrigin(c),
    redirectUri: body.redirect_uri,
    codeChallenge: body.code_challenge,
  })
  return c.json({ authorize_url: url }, 200)
}

const completeBody = z
  .object({
    code: z.string().min(1, 'is required').max(128).openapi({ description: 'The link_code from the redirect’s fragment' }),
    code_verifier: z
      .string()
      .regex(/^[A-Za-z0-9._~-]{43,128}$/, 'must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~')
      .openapi({ description: 'The PKCE verifier of the code_challenge sent to /authorize' }),
  })
  .openapi('IdentityLinkCompletion')

const completeRoute = createRoute({
  method: 'post',
  path: '/{provider}/complete',
  operationId: 'completeIdentityLink',
  tags: ['providers'],
  summary: 'Link the identity the provider flow came back with',
  description:
    'Only the account that started the link, with its PKCE verifier, turns the link code into a link; any failed attempt spends the code. No recent proof is needed here: the start needed one, and the code lives 10 minutes.',
  security: bearerAuth,
  request: { params: providerParam, body: jsonRequest(completeBody) },
  responses: {
    200: jsonResponse(z.object({ identity: identitySchema }).openapi('IdentityEnvelope'), 'The identity, linked now'),
    ...bodyProblems({
      400: ['validation_failed', 'invalid_challenge'],
      401: ['unauthorized'],
      403: ['email_not_verified'],
      404: ['not_found'],
      409: ['account_exists'],
      429: ['rate_limited'],
    }),
  },
})

const complete: RouteHandler<typeof completeRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  requireVerifiedAddress(c.var.user)
  const identity = await completeLinking(c.var.signIn, signedIn(c), c.req.valid('param').provider, {
    code: body.code,
    codeVerifier: body.code_verifier,
  })
  return c.json({ identity: identityView(identity) }, 200)
}

const unlinkRoute = createRoute({
  method: 'delete',
  path: '/{id}',
  operationId: 'unlinkIdentity',
  tags: ['providers'],
  summary: 'Unlink a provider identity',
  description: 'A sensitive action. Refused when it is the last way to sign in (no password, no passkey, no other identity).',
  security: bearerAuth,
  request: {
    params: z.object({
      id: z
        .string()
        .max(64)
        .openapi({ param: { name: 'id', in: 'path' } }),
    }),
  },
  responses: {
    204: { description: 'Unlinked' },
    ...problems({ 401: ['unauthorized'], 403: ['reauthentication_required'], 404: ['not_found'], 409: ['last_sign_in_method'] }),
  },
})

const unlink: RouteHandler<typeof unlinkRoute, AppEnv> = async (c) => {
  const { db, user, client } = c.var
  await requireRecentProof(c.var.signIn, signedIn(c))
  const outcome = await unlinkIdentity(db, { userId: user.id, id: c.req.valid('param').id, client, now: new Date() })
  if (outcome !== 'removed') throw problem(outcome)
  return c.body(null, 204)
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** The signed-in user's linked identities. Mounted at /api/v1/users/me/identities. */
export const identityRoutes = authenticated
  .openapi(listRoute, list)
  .openapi(linkRoute, link)
  .openapi(completeRoute, complete)
  .openapi(unlinkRoute, unlink)
