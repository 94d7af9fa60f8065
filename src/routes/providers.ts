import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { browserHashOf, flowBrowser, requestOrigin } from '../http/provider-browser'
import { createRouter } from '../http/router'
import { signInAnswer } from '../http/sign-in-answer'
import { jsonRequest, jsonResponse, noAuth } from '../schemas/openapi'
import { bodyProblems, problems } from '../schemas/problem'
import { tokenPairSchema } from '../schemas/token-pair'
import { finishProviderFlow, startProviderFlow } from '../sign-in/provider'
import { signInWithProviderCode } from '../sign-in/provider-token'

const providersRoute = createRoute({
  method: 'get',
  path: '/oauth/providers',
  operationId: 'listProviders',
  tags: ['providers'],
  summary: 'The providers one may sign in with',
  security: noAuth,
  responses: {
    200: jsonResponse(
      z
        .object({ providers: z.array(z.object({ id: z.string(), name: z.string(), type: z.enum(['oidc', 'github']) })) })
        .openapi('ProviderList'),
      'As configured in OAUTH_PROVIDERS',
    ),
  },
})

const listProviders: RouteHandler<typeof providersRoute, AppEnv> = (c) =>
  c.json({ providers: c.var.config.providers.map(({ id, name, type }) => ({ id, name, type })) }, 200)

const providerParam = z.object({
  provider: z
    .string()
    .max(32)
    .openapi({ param: { name: 'provider', in: 'path' } }),
})

const authorizeQuery = z
  .object({
    redirect_uri: z
      .string()
      .max(2048)
      .optional()
      .openapi({ description: 'Where the app gets #code=… back: at APP_URL (or PUBLIC_URL, the hosted pages) or below it' }),
    code_challenge: z
      .string()
      .regex(/^[A-Za-z0-9_-]{43}$/, 'must be the base64url SHA-256 of the code verifier (43 characters)')
      .optional()
      .openapi({ description: "The app's PKCE challenge for POST /users/oauth/token" }),
    code_challenge_method: z.literal('S256', { message: 'must be S256' }).optional(),
    link: z.string().max(128).optional().openapi({ description: 'A linking ticket from POST /users/me/identities/{provider}/authorize' }),
  })
  .superRefine((query, ctx) => {
    if (query.link !== undefined) return
    if (query.redirect_uri === undefined) ctx.addIssue({ code: 'custom', path: ['redirect_uri'], message: 'is required' })
    if (query.code_challenge === undefined) ctx.addIssue({ code: 'custom', path: ['code_challenge'], message: 'is required' })
    if (query.code_challenge_method === undefined)
      ctx.addIssue({ code: 'custom', path: ['code_challenge_method'], message: 'is required: S256' })
  })

const redirect = { description: 'To the provider (or back to the app)', headers: { Location: { schema: { type: 'string' as const } } } }

const authorizeRoute = createRoute({
  method: 'get',
  path: '/oauth/{provider}/authorize',
  operationId: 'startProviderSignIn',
  tags: ['providers'],
  summary: 'Start signing in with a provider',
  description:
    'The browser is sent here by the app, and on to the provider with state, PKCE (S256) and a nonce, bound to this browser by an HttpOnly __Host- cookie; single use, 10 minutes. Budgeted per client network.',
  security: noAuth,
  request: { params: providerParam, query: authorizeQuery },
  responses: {
    302: redirect,
    ...problems({ 400: ['validation_failed', 'invalid_challenge'], 404: ['not_found'], 429: ['rate_limited'] }),
  },
})

const authorize: RouteHandler<typeof authorizeRoute, AppEnv> = async (c) => {
  const query = c.req.valid('query')
  const location = await startProviderFlow(c.var.signIn, flowBrowser(c), c.req.valid('param').provider, {
    redirectUri: query.redirect_uri,
    codeChallenge: query.code_challenge,
    link: query.link,
  })
  return c.redirect(location, 302) as never
}

const callbackRoute = createRoute({
  method: 'get',
  path: '/oauth/{provider}/callback',
  operationId: 'finishProviderSignIn',
  tags: ['providers'],
  summary: "The provider's redirect back (register this URL with the provider)",
  description:
    "Checks the state (and this browser's cookie), the provider's answer and the ID token, decides the account, then redirects to the app's redirect_uri with #code=<one-time code> (60 s), #link_code=<one-time code> for a link (10 minutes; completed only by the account that started it), or #error=<code> (provider_failed, account_exists, account_disabled, email_not_verified).",
  security: noAuth,
  request: { params: providerParam },
  responses: { 302: redirect, ...problems({ 400: ['invalid_challenge'], 404: ['not_found'], 429: ['rate_limited'] }) },
})

const callback: RouteHandler<typeof callbackRoute, AppEnv> = async (c) => {
  const location = await finishProviderFlow(c.var.signIn, {
    providerId: c.req.valid('param').provider,
    origin: requestOrigin(c),
    query: new URL(c.req.url).searchParams,
    browserHash: await browserHashOf(c),
  })
  return c.redirect(location, 302) as never
}

const providerTokenRoute = createRoute({
  method: 'post',
  path: '/users/oauth/token',
  operationId: 'exchangeProviderCode',
  tags: ['providers'],
  summary: "Exchange a provider sign-in's one-time code for tokens",
  description:
    "The code from redirect_uri#code=… (single use, 60 s) with the app's PKCE code_verifier. A provider sign-in is one factor (amr fed, aal1): an account with a second factor gets 403 mfa_required, finished at POST /users/login/mfa.",
  security: noAuth,
  request: {
    body: jsonRequest(
      z
        .object({
          code: z.string().min(1, 'is required').max(128),
          code_verifier: z.string().min(43, 'must be 43-128 characters').max(128),
        })
        .openapi('ProviderTokenRequest'),
    ),
  },
  responses: {
    200: jsonResponse(tokenPairSchema, 'A token pair (amr fed); sent with Cache-Control: no-store'),
    ...bodyProblems({ 400: ['validation_failed', 'invalid_challenge'], 403: ['account_disabled', 'mfa_required'], 429: ['rate_limited'] }),
  },
})

const providerToken: RouteHandler<typeof providerTokenRoute, AppEnv> = async (c) => {
  const body = c.req.valid('json')
  const outcome = await signInWithProviderCode(c.var.signIn, { code: body.code, codeVerifier: body.code_verifier })
  return c.json(signInAnswer(outcome), 200)
}

/** Sign-in with another provider: its redirects and the app's code exchange. Mounted at /api/v1. */
export const providerRoutes = createRouter()
  .openapi(providersRoute, listProviders)
  .openapi(authorizeRoute, authorize)
  .openapi(callbackRoute, callback)
  .openapi(providerTokenRoute, providerToken)
