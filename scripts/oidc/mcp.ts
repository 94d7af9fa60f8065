/**
 * An MCP server as a protected resource of the OpenID Provider, and the MCP SDK's own client
 * finding its way in. The server (the SDK's McpServer over its Streamable HTTP transport, on
 * node:http) answers 401 with a WWW-Authenticate that points at its RFC 9728 metadata, which names
 * our issuer; it accepts only access tokens that jose verifies against our JWKS, for our issuer
 * and for its own resource URI. The client (the SDK's Client and transport, with an
 * OAuthClientProvider whose "browser" is Chromium) does what Claude and other MCP clients do:
 * 401 → RFC 9728 → RFC 8414 → RFC 7591 registration → authorization with PKCE and `resource`
 * (RFC 8707) → the code exchanged → the tool called with the token.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import { createRemoteJWKSet, decodeJwt, type JWTPayload, jwtVerify } from 'jose'
import { randomState } from 'openid-client'
import type { Person } from './accounts.ts'
import { authorizeInBrowser, type Browser } from './browser.ts'
import { check, ensure, step } from './report.ts'
import { exchangeCount, exchangesSince, tracedFetch } from './trace.ts'

export type McpResourceServer = {
  resource: string
  metadataUrl: string
  /** What it was asked and answered, in order: "POST /mcp 401". */
  seen: string[]
  stop: () => Promise<void>
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

/** The MCP server on `port` (chosen before the dev server starts, which must list its resource in OAUTH_RESOURCES). */
export function startMcpServer(port: number, issuer: string, jwksUri: string): Promise<McpResourceServer> {
  const origin = `http://localhost:${port}`
  const resource = `${origin}/mcp`
  const metadataPath = '/.well-known/oauth-protected-resource/mcp'
  const metadataUrl = `${origin}${metadataPath}`
  const jwks = createRemoteJWKSet(new URL(jwksUri))
  const seen: string[] = []

  async function bearer(req: IncomingMessage): Promise<JWTPayload | undefined> {
    const token = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '')?.[1]
    if (!token) return undefined
    try {
      return (await jwtVerify(token, jwks, { issuer, audience: resource })).payload
    } catch {
      return undefined
    }
  }

  async function serve(req: IncomingMessage, res: ServerResponse) {
    const path = new URL(req.url ?? '/', origin).pathname
    res.on('finish', () => seen.push(`${req.method} ${path} ${res.statusCode}`))
    if (req.method === 'GET' && path === metadataPath) {
      json(res, 200, { resource, authorization_servers: [issuer], bearer_methods_supported: ['header'] })
      return
    }
    if (path !== '/mcp') {
      json(res, 404, { error: 'not_found' })
      return
    }
    const claims = await bearer(req)
    if (!claims) {
      const error = req.headers.authorization ? ', error="invalid_token"' : ''
      json(res, 401, { error: 'unauthorized' }, { 'www-authenticate': `Bearer resource_metadata="${metadataUrl}"${error}` })
      return
    }
    const auth: AuthInfo = {
      token: /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '',
      clientId: String(claims.client_id ?? ''),
      scopes: typeof claims.scope === 'string' ? claims.scope.split(' ') : [],
      expiresAt: claims.exp,
      resource: new URL(resource),
      extra: { sub: claims.sub },
    }
    // Stateless, as the SDK's examples serve many clients: a server and a transport for each request.
    const server = new McpServer({ name: 'oidc-check', version: '1.0.0' })
    server.registerTool('whoami', { description: "The subject of the caller's access token" }, (extra) => ({
      content: [{ type: 'text', text: String(extra.authInfo?.extra?.sub ?? '') }],
    }))
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true })
    res.on('close', () => {
      void transport.close()
      void server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(Object.assign(req, { auth }), res)
  }

  const http: Server = createServer((req, res) => {
    serve(req, res).catch((error: Error) => {
      if (!res.headersSent) json(res, 500, { error: 'server_error', error_description: error.message })
    })
  })
  return new Promise((resolve, reject) => {
    http.once('error', reject)
    http.listen(port, 'localhost', () =>
      resolve({
        resource,
        metadataUrl,
        seen,
        stop: () => new Promise((done) => http.close(() => done())),
      }),
    )
  })
}

/**
 * The MCP client's side of OAuth, in memory: what it registers and the tokens it gets; its
 * "browser" is Chromium, which signs the person in, allows, and hands back the redirect.
 */
class ChromiumOAuthProvider implements OAuthClientProvider {
  registered: OAuthClientInformationMixed | undefined
  saved: OAuthTokens | undefined
  verifier = ''
  sentState = ''
  authorizationUrl: URL | undefined
  callback: URL | undefined

  constructor(
    readonly redirectUrl: string,
    readonly clientName: string,
    private readonly authorize: (url: URL) => Promise<URL>,
  ) {}

  get clientMetadata(): OAuthClientMetadata {
    // A desktop MCP client: public (no secret), native, on a loopback redirect URI.
    return {
      client_name: this.clientName,
      redirect_uris: [this.redirectUrl],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      application_type: 'native',
    } as OAuthClientMetadata
  }

  state() {
    this.sentState = randomState()
    return this.sentState
  }

  clientInformation() {
    return this.registered
  }

  saveClientInformation(information: OAuthClientInformationMixed) {
    this.registered = information
  }

  tokens() {
    return this.saved
  }

  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens
  }

  async redirectToAuthorization(url: URL) {
    this.authorizationUrl = url
    this.callback = await this.authorize(url)
  }

  saveCodeVerifier(verifier: string) {
    this.verifier = verifier
  }

  codeVerifier() {
    return this.verifier
  }
}

/** The whoami tool's answer to a caller holding `token`, through the SDK's client with a fixed Authorization header. */
export async function callWhoami(resource: string, token: string): Promise<string | undefined> {
  const mcp = new Client({ name: 'oidc-check', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(new URL(resource), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
    fetch: tracedFetch,
  })
  await mcp.connect(transport)
  try {
    const result = await mcp.callTool({ name: 'whoami', arguments: {} })
    return (result.content as { type: string; text?: string }[])[0]?.text
  } finally {
    await mcp.close()
  }
}

const pathsOf = (start: number) =>
  exchangesSince(start).map(({ request, answer }) => `${request.split(' ').slice(0, 2).join(' ')} ${answer.slice(0, 3)}`)

export async function checkMcpClient(input: {
  base: string
  issuer: string
  browser: Browser
  server: McpResourceServer
  person: Person
  personId: string
  clientPort: number
}): Promise<void> {
  const { server, issuer } = input
  const bare = await tracedFetch(server.resource, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: '{}',
  })
  check(
    bare.status === 401 && bare.headers.get('www-authenticate') === `Bearer resource_metadata="${server.metadataUrl}"`,
    `the MCP server answers a request without a token 401 with WWW-Authenticate: Bearer resource_metadata="${server.metadataUrl}"`,
  )

  const name = 'OIDC Check MCP Client'
  const redirectUrl = `http://127.0.0.1:${input.clientPort}/callback`
  const provider = new ChromiumOAuthProvider(redirectUrl, name, (url) =>
    authorizeInBrowser(input.browser, { url, redirectUri: redirectUrl, person: input.person, clientName: name }),
  )
  const start = exchangeCount()
  const first = new StreamableHTTPClientTransport(new URL(server.resource), { authProvider: provider, fetch: tracedFetch })
  await step('the MCP SDK client connects: 401 → RFC 9728 → RFC 8414 → RFC 7591 registration → Chromium signs in and allows', async () => {
    try {
      await new Client({ name: 'oidc-check', version: '1.0.0' }).connect(first)
    } catch (error) {
      // What the SDK throws once it sent the person to authorize: the flow continues with finishAuth.
      if (error instanceof UnauthorizedError && provider.callback) return
      throw error
    }
    throw new Error('the MCP server let the client in without a token')
  })
  const asked = pathsOf(start)
  const metadataPath = new URL(server.metadataUrl).pathname
  const order = [
    `POST ${server.resource} 401`,
    `GET ${server.metadataUrl} 200`,
    `GET ${input.base}/.well-known/oauth-authorization-server 200`,
    `POST ${input.base}/oauth2/register 201`,
  ]
  const found = order.map((line) => asked.indexOf(line))
  check(
    found.every((at, i) => at >= 0 && (i === 0 || at > found[i - 1]!)),
    `the SDK found us as the spec says: ${order.map((line) => line.replace(input.base, '').replace(new URL(server.resource).origin, 'mcp')).join(', then ')}`,
    `its requests: ${asked.join('; ')}`,
  )
  check(server.seen.includes(`GET ${metadataPath} 200`), 'the MCP server served its protected resource metadata')
  const registered = provider.registered
  ensure(typeof registered?.client_id === 'string', `the SDK registered a client dynamically (${registered?.client_id})`)
  const authorization = provider.authorizationUrl!
  check(
    authorization.searchParams.get('resource') === server.resource && authorization.searchParams.get('code_challenge_method') === 'S256',
    `the SDK asked to authorize with resource=${authorization.searchParams.get('resource')} and PKCE S256`,
  )
  const callback = provider.callback!
  const code = callback.searchParams.get('code')
  check(
    code !== null && callback.searchParams.get('state') === provider.sentState && callback.searchParams.get('iss') === issuer,
    `the redirect to the MCP client carries code, its state and iss (${[...callback.searchParams.keys()].join(', ')})`,
  )
  ensure(code !== null, 'the MCP client got a code')

  await step('transport.finishAuth(code) exchanges the code (public client, PKCE, resource)', () => first.finishAuth(code!))
  const accessToken = provider.saved?.access_token ?? ''
  const claims = decodeJwt(accessToken)
  check(
    claims.aud === server.resource && claims.iss === issuer && claims.sub === input.personId,
    `the MCP client's access token is for the MCP server (aud ${claims.aud}, iss ${claims.iss}, sub ${claims.sub})`,
  )
  const userinfo = await fetch(`${input.base}/oauth2/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } })
  check(userinfo.status === 401, `userinfo refuses a token meant for the MCP server (${userinfo.status})`, await userinfo.text())

  const mcp = new Client({ name: 'oidc-check', version: '1.0.0' })
  const second = new StreamableHTTPClientTransport(new URL(server.resource), { authProvider: provider, fetch: tracedFetch })
  await step('the MCP client connects with its token', () => mcp.connect(second))
  const result = await step('it calls the tool whoami', () => mcp.callTool({ name: 'whoami', arguments: {} }))
  const text = (result.content as { type: string; text?: string }[])[0]?.text
  check(text === input.personId, `whoami answers the person's id, from the token the MCP server verified (${text})`)
  await mcp.close()
}
