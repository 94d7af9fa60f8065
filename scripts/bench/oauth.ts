/**
 * The OpenID Provider's endpoints as the benchmark drives them: the code's exchange and the
 * refresh at /oauth2/token, and userinfo. A code is single use and lives 60 s, so before each run
 * a pool of codes is minted outside its timing, the way a browser gets them: a browser session
 * signed in on /sign-in, then GET /oauth2/authorize for a skip_consent client, one code per
 * redirect. Refresh tokens rotate: each request takes one from a pool and returns its successor.
 * The pools are code-pool.ts's, shared with the OAuth peer's (oauth-peer.ts).
 */
import { codeOf, codePool, PKCE_VERIFIER, pkceChallenge, REFRESH_GRANTS, refreshPool } from './code-pool.ts'
import { BENCH_PASSWORD, benchUsername } from './database.ts'

const REDIRECT_URI = 'http://localhost:5173/callback'

/** A browser's cookies, kept by name, as the pages set them. */
function cookieJar() {
  const cookies = new Map<string, string>()
  return {
    take(response: Response) {
      for (const line of response.headers.getSetCookie()) {
        const [pair = ''] = line.split(';')
        const at = pair.indexOf('=')
        cookies.set(pair.slice(0, at), pair.slice(at + 1))
      }
    },
    header: () => [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
    /** By the name without its prefix: over plain HTTP to a host other than localhost the pages drop `__Host-`. */
    get: (name: string) => cookies.get(`__Host-${name}`) ?? cookies.get(name),
  }
}

/** A client registered by the admin, and a browser signed in on the hosted pages as a bench account. */
async function setUp(baseUrl: string, adminToken: string, username: string) {
  const created = await fetch(`${baseUrl}/api/v1/admin/oauth/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ name: 'Bench app', type: 'confidential', redirect_uris: [REDIRECT_URI], skip_consent: true }),
  })
  if (created.status !== 201) throw new Error(`registering the bench client answered ${created.status}: ${await created.text()}`)
  const { client, client_secret } = (await created.json()) as { client: { client_id: string }; client_secret: string }
  const jar = cookieJar()
  jar.take(await fetch(`${baseUrl}/sign-in`, { redirect: 'manual' }))
  const signedIn = await fetch(`${baseUrl}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    // As a browser sends a same-origin form: whatever host the worker sees itself as, this says where the form came from.
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', cookie: jar.header() },
    body: new URLSearchParams({ csrf_token: jar.get('edge-users-csrf') ?? '', username, password: BENCH_PASSWORD }).toString(),
  })
  jar.take(signedIn)
  if (signedIn.status !== 303 || !jar.get('edge-users-session')) throw new Error(`the bench browser's sign-in answered ${signedIn.status}`)
  return { clientId: client.client_id, secret: client_secret, jar }
}

/** The OpenID Provider's three measured endpoints, with their pools. */
export async function oauthEndpoints(baseUrl: () => string, adminToken: string) {
  const { clientId, secret, jar } = await setUp(baseUrl(), adminToken, benchUsername(3))
  const challenge = await pkceChallenge()
  // With openid the exchange also signs an ID token (RS256, the default a client gets); without it,
  // it does what the OAuth peer does (an access token and a refresh token), for the like-for-like row.
  const authorizePath = (scope: string) =>
    `/oauth2/authorize?${new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      scope,
      ...(scope.includes('openid') ? { nonce: 'bench' } : {}),
      code_challenge: challenge,
      code_challenge_method: 'S256',
    })}`
  const minter = (scope: string) => async () =>
    codeOf(await fetch(`${baseUrl()}${authorizePath(scope)}`, { redirect: 'manual', headers: { cookie: jar.header() } }))
  const mintCode = minter('openid profile email')

  const form = (fields: Record<string, string>) => new URLSearchParams({ client_id: clientId, client_secret: secret, ...fields }).toString()
  const exchangeForm = (code: string) =>
    form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: PKCE_VERIFIER })
  async function exchange(code: string) {
    const response = await fetch(`${baseUrl()}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: exchangeForm(code),
    })
    if (response.status !== 200) throw new Error(`the code's exchange answered ${response.status}: ${await response.text()}`)
    return (await response.json()) as { access_token: string; refresh_token: string }
  }

  const codes = codePool(mintCode)
  const oauthOnlyCodes = codePool(minter('profile email'))
  const first = await Promise.all(Array.from({ length: REFRESH_GRANTS }, async () => exchange(await mintCode())))
  const refreshes = refreshPool(first.map((tokens) => tokens.refresh_token))
  const userinfoToken = first[0]!.access_token
  const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' }

  return [
    {
      name: 'oauth code exchange' as const,
      spec: {
        method: 'POST' as const,
        path: '/oauth2/token',
        headers: formHeaders,
        credentials: codes.credentials,
        body: () => exchangeForm(codes.next()),
      },
    },
    {
      name: 'oauth code exchange (no openid)' as const,
      spec: {
        method: 'POST' as const,
        path: '/oauth2/token',
        headers: formHeaders,
        credentials: oauthOnlyCodes.credentials,
        body: () => exchangeForm(oauthOnlyCodes.next()),
      },
    },
    {
      name: 'oauth refresh' as const,
      spec: {
        method: 'POST' as const,
        path: '/oauth2/token',
        headers: formHeaders,
        body: () => form({ grant_type: 'refresh_token', refresh_token: refreshes.next() }),
        onResponse: refreshes.onResponse,
      },
    },
    {
      // A code for a signed-in browser of a client it needs no consent for: a grant written (and the
      // consent remembered) per request, answered with the redirect to the client.
      name: 'oauth authorize' as const,
      spec: { path: authorizePath('openid profile email'), headers: { cookie: jar.header() } as Record<string, string>, redirects: true },
    },
    { name: 'oauth userinfo' as const, spec: { path: '/oauth2/userinfo', headers: { authorization: `Bearer ${userinfoToken}` } } },
  ]
}
