import { OpenAPIHono } from '@hono/zod-openapi'
import { HTTPException } from 'hono/http-exception'
import { methodNotAllowed } from 'hono/method-not-allowed'
import type { AppEnv } from './app-env'
import { ApiError, type ErrorCode, MAX_BODY_BYTES, problem } from './errors'
import { problemResponse } from './http/problem-response'
import { rejectInvalid } from './http/validation'
import { log } from './log'
import { requireConfig } from './middleware/config'
import { corsForConfiguredOrigins, corsForOAuthClients } from './middleware/cors'
import { useDatabase } from './middleware/database'
import { jsonOnly, limitBody } from './middleware/json-only'
import { requestIdentity } from './middleware/request-id'
import { requestLog } from './middleware/request-log'
import { securityHeaders } from './middleware/security-headers'
import { isPagePath, pageRefusal, pages } from './pages'
import { account } from './routes/account'
import { admin } from './routes/admin'
import { docsPage, docsPolicy } from './routes/docs'
import { exportRoutes } from './routes/export'
import { grantRoutes } from './routes/grants'
import { identityRoutes } from './routes/identities'
import { meta } from './routes/meta'
import { mfa } from './routes/mfa'
import { oauthClientRoutes } from './routes/oauth-clients'
import { oauthRegistration } from './routes/oauth-registration'
import { oauthToken } from './routes/oauth-token'
import { oauthUserinfo } from './routes/oauth-userinfo'
import { activeOrgRoutes, adminOrgRoutes, invitationRoutes, orgRoutes } from './routes/orgs'
import { passkeys } from './routes/passkeys'
import { providerRoutes } from './routes/providers'
import { reauthenticationRoutes } from './routes/reauthentication'
import { recovery } from './routes/recovery'
import { sessionRoutes } from './routes/sessions'
import { signInRoutes } from './routes/sign-in'
import { signUpRoutes } from './routes/sign-up'
import { wellKnown } from './routes/well-known'

const API = '/api/v1'

const app = new OpenAPIHono<AppEnv>({ defaultHook: rejectInvalid })

app.use(requestIdentity())
app.use(requestLog())
app.use(securityHeaders())
app.use(corsForOAuthClients())
app.use(corsForConfiguredOrigins())
app.use(limitBody(MAX_BODY_BYTES))
// The API's bodies are JSON; the hosted pages' are forms (checked by their own middleware).
app.use(`${API}/*`, jsonOnly())
// A path the API serves, asked with another method, is 405 with the methods it does serve (Hono's
// own middleware, reading app.routes; HEAD wherever GET is), in the contract's problem form.
app.use(
  methodNotAllowed({
    app,
    onMethodNotAllowed: (c, methods) => {
      const allow = [...methods].sort().join(', ')
      return problemResponse(c, problem('method_not_allowed', { context: `It answers ${allow}.`, headers: { Allow: allow } }))
    },
  }),
)

app.doc31(`${API}/openapi.json`, {
  openapi: '3.1.0',
  info: {
    title: 'edge-users',
    version: '1.0.0',
    // `identifier` (an SPDX expression) is OpenAPI 3.1's, which the library's 3.0 type does not list.
    license: { name: 'MIT', ...{ identifier: 'MIT' } },
    description:
      'Users and roles at the edge. Errors are RFC 9457 problem details with a stable `code`. Every response carries `X-Request-Id`; ' +
      'every response from a request that used the database carries `X-D1-Bookmark`: send it back as a request header and the next ' +
      'read is answered from a copy of the database at least that new, so a client reads its own writes even from a D1 read replica.',
  },
  servers: [{ url: '/' }],
})
app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
  type: 'http',
  scheme: 'bearer',
  bearerFormat: 'JWT (EdDSA, typ at+jwt)',
})

// One chain, so its type (AppType) carries every route for hono/client's hc<AppType>().
const api = app
  // Health is mounted ahead of the configuration gate so it can report a broken configuration
  // (naming the variable) instead of failing on it like every other route.
  .route(API, meta)
  // The front door: where to read about the API, fetch its description and see whether it is up.
  .get('/', (c) => c.json({ name: 'edge-users', docs: `${API}/docs`, openapi: `${API}/openapi.json`, health: `${API}/health` }))
  .get(`${API}/docs`, (c) => {
    const nonce = crypto.randomUUID().replace(/-/g, '')
    c.header('Content-Security-Policy', docsPolicy(nonce))
    return c.html(docsPage(`${API}/openapi.json`, nonce))
  })
  .use(requireConfig())
  .use(useDatabase())
  .route('/.well-known', wellKnown)
  .route(`${API}/users/me/mfa`, mfa)
  .route(`${API}/users/me/passkeys`, passkeys)
  .route(`${API}/users/me/identities`, identityRoutes)
  .route(API, providerRoutes)
  .route(`${API}/users/me/sessions`, sessionRoutes)
  .route(`${API}/users/me/export`, exportRoutes)
  .route(`${API}/users/me/grants`, grantRoutes)
  .route(`${API}/users/me/active-organization`, activeOrgRoutes)
  .route(`${API}/orgs`, orgRoutes)
  .route(`${API}/invitations`, invitationRoutes)
  .route(`${API}/users/me/reauthenticate`, reauthenticationRoutes)
  .route(`${API}/users/me`, account)
  .route(`${API}/users`, signUpRoutes)
  .route(`${API}/users`, signInRoutes)
  .route(`${API}/users`, recovery)
  .route(`${API}/admin/oauth/clients`, oauthClientRoutes)
  .route(`${API}/admin/orgs`, adminOrgRoutes)
  .route(`${API}/admin`, admin)
  .route('/', oauthRegistration)
  .route('/', oauthToken)
  .route('/', oauthUserinfo)
  .route('/', pages)

app.notFound((c) => problemResponse(c, problem('not_found')))

// Hono's own exceptions (a malformed body the validator saw first, an unsupported media type)
// keep their status but speak the contract's codes.
const codeForHttpStatus: Partial<Record<number, ErrorCode>> = {
  400: 'invalid_json',
  401: 'unauthorized',
  404: 'not_found',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
}

app.onError((error, c) => {
  // A refusal before a page's own handler ran (a body over the limit): answered as a page.
  if (isPagePath(c.req.path)) return pageRefusal(error, c)
  if (error instanceof ApiError) return problemResponse(c, error)
  const code = error instanceof HTTPException ? codeForHttpStatus[error.status] : undefined
  if (error instanceof HTTPException && code) return problemResponse(c, problem(code))
  // The error's name only: a database error's message embeds bound values.
  log('error', 'request.failed', { request_id: c.var.requestId, error: error.name, path: c.req.path })
  return problemResponse(c, problem('internal_error'))
})

// The router compiles every route into its matchers on its first match: made to happen here, as
// the module is evaluated (which the platform does while the TLS handshake is still going on),
// instead of in the isolate's first request.
app.router.match('GET', '/')

/** The whole API's type: `hc<AppType>(baseUrl)` from hono/client infers every route's input and output. */
export type AppType = typeof api
export default app
