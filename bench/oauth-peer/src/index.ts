/**
 * The benchmark's OAuth peer: Cloudflare's workers-oauth-provider as its README sets it up, one
 * Worker that is the authorization server and its only resource, at the library's defaults
 * (opaque tokens kept in KV, one-hour access tokens, rotating 30-day refresh tokens). Its
 * authorization endpoint approves every request for one fixed user with no consent screen, as
 * edge-users' does for a skip_consent client whose user is signed in. `/hello` is the bare route,
 * and `/api` the protected one.
 */
import { type AuthRequest, type OAuthHelpers, OAuthProvider } from '@cloudflare/workers-oauth-provider'

type Env = {
  OAUTH_KV: KVNamespace
  /** Set by the provider before the default handler runs. */
  OAUTH_PROVIDER: OAuthHelpers
  /** The protected resource, `http://127.0.0.1:<port>/api`: the library checks a token's audience against the request's host and port. */
  RESOURCE: string
  /** What the one-time setup request must present to register a client. */
  SETUP_TOKEN: string
}

const USER_ID = 'bench-user'

/** The application's routes: what the provider leaves to it (everything but the token endpoint and `/api`). */
const defaultHandler: ExportedHandler<Env> = {
  async fetch(request, env) {
    const url = new URL(request.url)
    if (url.pathname === '/hello') return Response.json({ msg: 'hello world' })
    if (url.pathname === '/authorize' && request.method === 'GET') return approve(request, env)
    if (url.pathname === '/setup/client' && request.method === 'POST') return registerClient(request, env)
    return new Response('Not found', { status: 404 })
  },
}

/** Every authorization approved for the one user, with the scopes asked for: no sign-in, no consent page. */
async function approve(request: Request, env: Env) {
  let authRequest: AuthRequest
  try {
    authRequest = await env.OAUTH_PROVIDER.parseAuthRequest(request)
  } catch (error) {
    return new Response(error instanceof Error ? error.message : 'invalid request', { status: 400 })
  }
  const { redirectTo } = await env.OAUTH_PROVIDER.completeAuthorization({
    request: authRequest,
    userId: USER_ID,
    metadata: {},
    scope: authRequest.scope,
    props: { userId: USER_ID },
    // By default each authorization revokes the user's earlier grants for the client, which would
    // spend every code in the benchmark's pool but the last. edge-users keeps concurrent grants too.
    revokeExistingGrants: false,
  })
  return Response.redirect(redirectTo, 302)
}

/**
 * A confidential client, registered the way the library's application code registers one
 * (createClient, as an admin would): it authenticates with its secret in the form body, as the
 * benchmark's client of edge-users does. Setup only, behind the token the benchmark serves it with.
 */
async function registerClient(request: Request, env: Env) {
  if (request.headers.get('authorization') !== `Bearer ${env.SETUP_TOKEN}`) return new Response('Forbidden', { status: 403 })
  const { redirect_uri } = (await request.json()) as { redirect_uri: string }
  const client = await env.OAUTH_PROVIDER.createClient({
    clientName: 'Bench app',
    redirectUris: [redirect_uri],
    tokenEndpointAuthMethod: 'client_secret_post',
  })
  return Response.json({ client_id: client.clientId, client_secret: client.clientSecret }, { status: 201 })
}

/** The protected API: what completeAuthorization stored, as the library hands it over. */
const apiHandler = {
  async fetch(_request: Request, _env: Env, ctx: ExecutionContext) {
    return Response.json({ props: ctx.props })
  },
}

// One provider per isolate, built on first use: the resource's port is known only once it is served.
let provider: OAuthProvider<Env> | undefined
const providerFor = (env: Env) => {
  provider ??= new OAuthProvider<Env>({
    apiRoute: '/api',
    apiHandler,
    defaultHandler,
    authorizeEndpoint: '/authorize',
    tokenEndpoint: '/oauth/token',
    resourceMetadata: { resource: env.RESOURCE },
  })
  return provider
}

export default {
  fetch: (request, env, ctx) => providerFor(env).fetch(request, env, ctx),
} satisfies ExportedHandler<Env>
