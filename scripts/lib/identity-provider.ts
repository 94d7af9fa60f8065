/**
 * A real OpenID provider for the tests and the checks: panva's oidc-provider (a certified
 * implementation) on a local port, with its development login screen. Whoever signs in there as
 * `alice` is the account `alice` with the address `alice@idp.test`, verified; a login starting
 * with `unverified` gets an address the provider does not vouch for; `nomail` gets none.
 */
import { generateKeyPairSync } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'

export const IDP_CLIENT_ID = 'edge-users'
export const IDP_CLIENT_SECRET = 'edge-users-local-idp-secret'
export const IDP_EMAIL_DOMAIN = 'idp.test'

export type IdentityProvider = { issuer: string; stop: () => Promise<void> }

export async function startIdentityProvider(redirectUris: string[], port = 0): Promise<IdentityProvider> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'local-idp', use: 'sig', alg: 'RS256' }
  // The issuer needs the port before the provider exists: listen first, then mount it.
  const { createServer } = await import('node:http')
  let handler: ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void) | undefined
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
    features: { devInteractions: { enabled: true } },
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
  // Silence the provider's development warnings; a failure still reaches the test as a status.
  provider.on('server_error', () => {})
  handler = provider.callback()
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
