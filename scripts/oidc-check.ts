/**
 * `npm run oidc:check`: real third-party clients of the OpenID Provider complete their flows
 * against a fresh `npm run dev` in a scratch copy. openid-client, a certified relying party
 * library, runs the authorization code flow (PKCE, nonce, the ID token, userinfo, refresh,
 * introspection, revocation) with Chromium as the person who signs in on the hosted page and
 * allows, and a machine client's client_credentials grant. Then the MCP SDK's client reaches an
 * MCP server protected by our tokens the way MCP clients do: from the server's 401 to its RFC 9728
 * metadata, our RFC 8414 metadata, dynamic registration, authorization with a resource indicator,
 * and a tool call. Each step is a check; a failed one prints the requests it made and the server's
 * answers. Exits 0 only when every check passed.
 */
import { existsSync, rmSync } from 'node:fs'
import { type DevServer, freePort, scratchCopy, startDevServer } from './lib/dev-server.ts'
import { logIn, type Person, promote, signUp } from './oidc/accounts.ts'
import { type Browser, CHROMIUM, launchChromium } from './oidc/browser.ts'
import { checkMcpClient, type McpResourceServer, startMcpServer } from './oidc/mcp.ts'
import { checkAuthorizationCodeFlow, checkClientCredentials, type RelyingPartyInput } from './oidc/relying-party.ts'
import { check, ensure, flow, summary } from './oidc/report.ts'
import { tracedFetch } from './oidc/trace.ts'

if (!existsSync(CHROMIUM)) {
  console.error(`No Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH).`)
  process.exit(2)
}

const dir = scratchCopy()
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

const admin: Person = { username: 'oidc_admin', email: 'oidc-admin@example.com', password: 'copper-lantern-meadow-2026' }
const person: Person = { username: 'oidc_person', email: 'oidc-person@example.com', password: 'silver-canyon-tide-2026' }

type Jwk = { kty?: string; alg?: string; crv?: string; use?: string }

/** The discovery documents and the JWKS, read as they are served. */
async function checkDiscovery(base: string) {
  const read = async (path: string) => {
    const answer = await tracedFetch(`${base}${path}`)
    const body = await answer.text()
    ensure(answer.status === 200, `GET ${path} answers 200 (${answer.status})`, body.slice(0, 600))
    return JSON.parse(body) as Record<string, unknown>
  }
  const openid = await read('/.well-known/openid-configuration')
  const oauth = await read('/.well-known/oauth-authorization-server')
  check(JSON.stringify(openid) === JSON.stringify(oauth), '/.well-known/oauth-authorization-server is the same document')
  check(openid.issuer === base, `the issuer is PUBLIC_URL (${openid.issuer})`)
  const has = (field: string, value: string) => Array.isArray(openid[field]) && (openid[field] as unknown[]).includes(value)
  check(has('code_challenge_methods_supported', 'S256'), 'it offers PKCE S256')
  check(has('id_token_signing_alg_values_supported', 'RS256'), 'it signs ID tokens with RS256')
  check(has('response_types_supported', 'code'), 'it offers response_type code')
  check(typeof openid.registration_endpoint === 'string', `it names a registration endpoint (${openid.registration_endpoint})`)
  for (const field of [
    'authorization_endpoint',
    'token_endpoint',
    'userinfo_endpoint',
    'jwks_uri',
    'revocation_endpoint',
    'introspection_endpoint',
  ])
    check(typeof openid[field] === 'string' && String(openid[field]).startsWith(base), `${field}: ${openid[field]}`)
  const resource = await read('/.well-known/oauth-protected-resource')
  check(
    Array.isArray(resource.authorization_servers) && resource.authorization_servers.includes(base),
    `the API's protected resource metadata (RFC 9728) names the issuer (${JSON.stringify(resource)})`,
  )
  const jwks = (await read('/.well-known/jwks.json')) as { keys?: Jwk[] }
  const keys = jwks.keys ?? []
  check(
    keys.some((key) => key.kty === 'RSA' && key.alg === 'RS256') && keys.some((key) => key.kty === 'OKP' && key.alg === 'EdDSA'),
    `the JWKS has an RS256 RSA key and EdDSA Ed25519 keys (${keys.map((key) => `${key.kty}/${key.alg}`).join(', ')})`,
  )
  return { jwksUri: String(openid.jwks_uri ?? `${base}/.well-known/jwks.json`) }
}

let server: DevServer | undefined
let mcp: McpResourceServer | undefined
let browser: Browser | undefined
let ok = false
try {
  // The MCP server's port comes first: the dev server must list its resource in OAUTH_RESOURCES.
  const [port, mcpPort, webClientPort, mcpClientPort] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const resource = `http://localhost:${mcpPort}/mcp`
  server = await startDevServer(
    dir,
    [
      // MCP clients register themselves (RFC 7591); the MCP server is a resource tokens may be for (RFC 8707).
      '--var',
      'OAUTH_DYNAMIC_REGISTRATION:true',
      '--var',
      `OAUTH_RESOURCES:${JSON.stringify([resource])}`,
      // Strict rotation: a rotated-away refresh token presented again is a replay at once, not a retry.
      '--var',
      'REFRESH_REUSE_GRACE_SECONDS:0',
    ],
    port,
  )
  const base = server.base
  browser = await launchChromium()
  let jwksUri = `${base}/.well-known/jwks.json`
  await flow('Discovery', async () => {
    jwksUri = (await checkDiscovery(base)).jwksUri
  })

  let adminToken = ''
  let personId = ''
  await flow('Accounts', async () => {
    await signUp(base, dir, admin)
    promote(dir, admin)
    adminToken = await logIn(base, admin)
    personId = await signUp(base, dir, person)
  })

  // The MCP server from here on: the machine client's token for it is tried on it too.
  mcp = await startMcpServer(mcpPort, base, jwksUri)
  const input: RelyingPartyInput = { base, browser, adminToken, person, personId, clientPort: webClientPort, resource }
  if (adminToken && personId) {
    await flow('openid-client: authorization code flow', () => checkAuthorizationCodeFlow(input))
    await flow('openid-client: client_credentials', () => checkClientCredentials(input))
  }

  await flow('MCP SDK client and server', async () => {
    ensure(personId !== '', 'a person to sign in exists')
    await checkMcpClient({ base, issuer: base, browser: browser!, server: mcp!, person, personId, clientPort: mcpClientPort })
  })
  ok = summary()
} catch (error) {
  console.log(`FAIL ${(error as Error).message}`)
  summary()
} finally {
  await browser?.close()
  await mcp?.stop()
  server?.stop()
}
console.log(ok ? '\nEvery client completed its flows against the OpenID Provider.' : '\nThe OpenID Provider check failed.')
process.exit(ok ? 0 : 1)
