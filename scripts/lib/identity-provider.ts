/**
 * A real OpenID provider for the tests and the checks: panva's oidc-provider (a certified
 * implementation) on a local port, with a login screen of ours that takes any login and password.
 * Whoever signs in there as `alice` is the account `alice` with the address `alice@idp.test`,
 * verified; a login starting with `unverified` gets an address the provider does not vouch for;
 * `nomail` gets none.
 */
import { generateKeyPairSync } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider'

export const IDP_CLIENT_ID = 'edge-users'
export const IDP_CLIENT_SECRET = 'edge-users-local-idp-secret'
export const IDP_EMAIL_DOMAIN = 'idp.test'

export type IdentityProvider = { issuer: string; stop: () => Promise<void> }

/**
 * The provider's storage (its `adapter` option), in this process's memory like the one it ships
 * with, which is for development only and says so on the console at each start. Each provider has
 * its own; an entry is gone once its lifetime is over.
 */
function memoryAdapter(): new (model: string) => Adapter {
  const entries = new Map<string, { payload: AdapterPayload; expiresAt: number }>()
  const live = (key: string) => {
    const entry = entries.get(key)
    if (entry && entry.expiresAt <= Date.now()) entries.delete(key)
    return entry && entry.expiresAt > Date.now() ? entry : undefined
  }
  const findWhere = (test: (key: string, payload: AdapterPayload) => boolean) =>
    [...entries.keys()].map((key) => [key, live(key)?.payload] as const).find(([key, payload]) => payload && test(key, payload))?.[1]
  return class MemoryAdapter implements Adapter {
    constructor(private readonly model: string) {}
    private key(id: string) {
      return `${this.model}:${id}`
    }
    async upsert(id: string, payload: AdapterPayload, expiresIn?: number) {
      entries.set(this.key(id), { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Number.POSITIVE_INFINITY })
    }
    async find(id: string) {
      return live(this.key(id))?.payload
    }
    async findByUid(uid: string) {
      return findWhere((key, payload) => key.startsWith(`${this.model}:`) && payload.uid === uid)
    }
    async findByUserCode(userCode: string) {
      return findWhere((key, payload) => key.startsWith(`${this.model}:`) && payload.userCode === userCode)
    }
    async consume(id: string) {
      const entry = live(this.key(id))
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000)
    }
    async destroy(id: string) {
      entries.delete(this.key(id))
    }
    async revokeByGrantId(grantId: string) {
      for (const [key, { payload }] of entries) if (payload.grantId === grantId) entries.delete(key)
    }
  }
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** The login and consent screens: one form each, posted back to the page's own URL. */
function interactionPage(prompt: string, action: string, loginHint: string): string {
  const fields =
    prompt === 'login'
      ? `<input required name="login" placeholder="Any login" value="${escapeHtml(loginHint)}" autofocus>
    <input required type="password" name="password" placeholder="and any password">
    <button type="submit">Sign in</button>`
      : '<p>edge-users asks for your address and name.</p>\n    <button type="submit">Allow</button>'
  return `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Local OpenID provider</title>
<body>
  <form method="post" action="${escapeHtml(action)}">
    <input type="hidden" name="prompt" value="${escapeHtml(prompt)}">
    ${fields}
  </form>
</body></html>
`
}

/**
 * `/interaction/<uid>`, where the provider sends a browser that must sign in or consent: shows the
 * screen, then takes its form. Any login is accepted (see findAccount); consent grants what the
 * client asked for, as oidc-provider's own development screens do.
 */
async function interact(provider: Provider, req: IncomingMessage, res: ServerResponse) {
  const interaction = await provider.interactionDetails(req, res)
  const { prompt, params, session } = interaction
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    return res.end(interactionPage(prompt.name, `/interaction/${interaction.uid}`, String(params.login_hint ?? '')))
  }
  let raw = ''
  for await (const chunk of req) raw += chunk
  const form = new URLSearchParams(raw)
  if (prompt.name === 'login') {
    const login = form.get('login')
    if (!login) return res.writeHead(400).end('a login is required')
    return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false })
  }
  const grant = interaction.grantId
    ? await provider.Grant.find(interaction.grantId)
    : new provider.Grant({ accountId: session?.accountId, clientId: String(params.client_id) })
  if (!grant) return res.writeHead(400).end('grant not found')
  const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] }
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims)
  return provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true })
}

export async function startIdentityProvider(redirectUris: string[], port = 0): Promise<IdentityProvider> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'local-idp', use: 'sig', alg: 'RS256' }
  // The issuer needs the port before the provider exists: listen first, then mount it.
  const { createServer } = await import('node:http')
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  const server = createServer((req, res) => (handler ? handler(req, res) : res.end()))
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const issuer = `http://localhost:${(server.address() as AddressInfo).port}`
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: IDP_CLIENT_ID,
        client_secret: IDP_CLIENT_SECRET,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [jwk as never] },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['preferred_username', 'name'] },
    pkce: { required: () => true },
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
    // Its own storage and screens: those oidc-provider ships are for development only, and it
    // says so on the console at each start (see memoryAdapter and interact above).
    adapter: memoryAdapter(),
    features: { devInteractions: { enabled: false } },
    async findAccount(_ctx, id) {
      return {
        accountId: id,
        async claims() {
          if (id.startsWith('nomail')) return { sub: id, preferred_username: id }
          return {
            sub: id,
            email: `${id}@${IDP_EMAIL_DOMAIN}`,
            email_verified: !id.startsWith('unverified'),
            preferred_username: id,
            name: id,
          }
        },
      }
    },
  })
  provider.proxy = true
  // oidc-provider logs each server_error it answers; a failure still reaches the test as a status.
  provider.on('server_error', () => {})
  const callback = provider.callback()
  handler = (req, res) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res)
    interact(provider, req, res).catch((error: Error) => {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' })
      res.end(`${error.name}: ${error.message}`)
    })
  }
  return {
    issuer,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** Cookies as a browser keeps them for one site: name to value, from each answer's Set-Cookie. */
export class CookieJar {
  private readonly cookies = new Map<string, string>()
  take(response: Response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';')
      const at = pair?.indexOf('=') ?? -1
      if (!pair || at < 0) continue
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      if (value === '' || /max-age=0/i.test(line) || /expires=thu, 01 jan 1970/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }
  header() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }
}

/**
 * Signs in at the provider as `login`, the way a person at its login screen would, starting from
 * the authorization URL our API redirected to: follows its redirects and answers its login (and
 * consent) screens. Returns the URL it finally redirects the browser to (our callback).
 */
export async function signInAtProvider(authorizationUrl: string, login: string, fetcher: typeof fetch = fetch): Promise<string> {
  const jar = new CookieJar()
  const origin = new URL(authorizationUrl).origin
  let url = authorizationUrl
  for (let step = 0; step < 12; step++) {
    if (!url.startsWith(origin)) return url
    const response = await fetcher(url, { redirect: 'manual', headers: { cookie: jar.header() } })
    jar.take(response)
    const location = response.headers.get('location')
    if (location) {
      url = new URL(location, url).href
      continue
    }
    const page = await response.text()
    const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1]
    const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1]
    if (!prompt || !action) throw new Error(`the provider answered ${response.status} without a form at ${url}`)
    const body = new URLSearchParams(prompt === 'login' ? { prompt, login, password: 'any password' } : { prompt })
    const submitted = await fetcher(new URL(action, url).href, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' },
      body,
    })
    jar.take(submitted)
    const next = submitted.headers.get('location')
    if (!next) throw new Error(`the provider's ${prompt} screen answered ${submitted.status}`)
    url = new URL(next, url).href
  }
  throw new Error('the provider kept redirecting')
}

export const GITHUB_CLIENT_ID = 'edge-users-github'
export const GITHUB_CLIENT_SECRET = 'edge-users-local-github-secret'

/**
 * A stand-in for GitHub's three OAuth endpoints, laid out as GitHub Enterprise Server lays them
 * out (`/login/oauth/authorize`, `/login/oauth/access_token`, `/api/v3/user` and `/user/emails`):
 * GitHub has no local edition. It checks what GitHub checks of a client (its secret, the code, the
 * redirect URI, the PKCE verifier) and answers as GitHub does (a 200 with an `error` for a bad
 * code). The person is chosen by a `login` query parameter on the authorize URL, standing in for
 * GitHub's own sign-in page; a login starting with `unverified` has an unverified primary address.
 */
export async function startGitHubStandIn(): Promise<IdentityProvider> {
  const { createServer } = await import('node:http')
  const codes = new Map<string, { login: string; redirectUri: string; challenge: string }>()
  const tokens = new Map<string, string>()
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    }
    if (url.pathname === '/login/oauth/authorize') {
      const code = crypto.randomUUID()
      const redirectUri = url.searchParams.get('redirect_uri') ?? ''
      codes.set(code, {
        login: url.searchParams.get('login') ?? 'octocat',
        redirectUri,
        challenge: url.searchParams.get('code_challenge') ?? '',
      })
      const back = new URL(redirectUri)
      back.searchParams.set('code', code)
      back.searchParams.set('state', url.searchParams.get('state') ?? '')
      res.writeHead(302, { location: back.href })
      return res.end()
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      let raw = ''
      for await (const chunk of req) raw += chunk
      const form = new URLSearchParams(raw)
      const basic = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString()
      const [id, secret] = basic.split(':').map(decodeURIComponent)
      const grant = codes.get(form.get('code') ?? '')
      codes.delete(form.get('code') ?? '')
      const { createHash } = await import('node:crypto')
      const challenge = createHash('sha256')
        .update(form.get('code_verifier') ?? '')
        .digest('base64url')
      if (id !== GITHUB_CLIENT_ID || secret !== GITHUB_CLIENT_SECRET) return json(200, { error: 'incorrect_client_credentials' })
      if (!grant || grant.redirectUri !== form.get('redirect_uri') || grant.challenge !== challenge)
        return json(200, { error: 'bad_verification_code' })
      const token = crypto.randomUUID()
      tokens.set(token, grant.login)
      return json(200, { access_token: token, token_type: 'bearer', scope: 'read:user,user:email' })
    }
    const login = tokens.get((req.headers.authorization ?? '').replace(/^Bearer /, ''))
    if (!login) return json(401, { message: 'Bad credentials' })
    if (url.pathname === '/api/v3/user') {
      // A stable numeric id per login, as GitHub's ids are numbers.
      const { createHash } = await import('node:crypto')
      return json(200, { id: createHash('sha256').update(login).digest().readUInt32BE(0), login })
    }
    if (url.pathname === '/api/v3/user/emails')
      return json(200, [
        { email: `${login}@github.${IDP_EMAIL_DOMAIN}`, primary: true, verified: !login.startsWith('unverified') },
        { email: `${login}.other@github.${IDP_EMAIL_DOMAIN}`, primary: false, verified: true },
      ])
    return json(404, { message: 'Not Found' })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    issuer: `http://localhost:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
