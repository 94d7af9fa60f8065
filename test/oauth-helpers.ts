import { expect } from 'vitest'
import { adminCall, asAdmin, call, freshIp, ORIGIN, signup } from './helpers'
import { PageBrowser } from './page-browser'

/** The issuer in the tests: PUBLIC_URL as the test configuration leaves it (its default). */
export const ISSUER = 'http://localhost:8787'
export const REDIRECT_URI = 'http://localhost:5173/callback'

export type TokenAnswer = {
  access_token?: string
  token_type?: string
  expires_in?: number
  scope?: string
  refresh_token?: string
  id_token?: string
  error?: string
  error_description?: string
}

export type TestClient = { id: string; secret: string; admin: string }

/** A client an admin registers (a confidential web client with the code and refresh grants, unless told otherwise). */
export async function registeredClient(overrides: Record<string, unknown> = {}): Promise<TestClient> {
  const admin = await asAdmin()
  const response = await adminCall(admin.token, '/oauth/clients', {
    json: { name: 'Photo app', type: 'confidential', redirect_uris: [REDIRECT_URI], ...overrides },
  })
  expect(response.status, await response.clone().text()).toBe(201)
  const body = (await response.json()) as { client: { client_id: string }; client_secret?: string }
  return { id: body.client.client_id, secret: body.client_secret ?? '', admin: admin.token }
}

export const basic = (id: string, secret: string) => `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`

/** A form POST to one of the provider's endpoints (token, revoke, introspect), from its own network address. */
export function oauthPost(path: string, form: Record<string, string | string[]>, options: { client?: TestClient; ip?: string } = {}) {
  const body = new URLSearchParams()
  for (const [name, value] of Object.entries(form)) for (const one of [value].flat()) body.append(name, one)
  const headers: Record<string, string> = {
    'Content-Type': 'application/x-www-form-urlencoded',
    'CF-Connecting-IP': options.ip ?? freshIp(),
  }
  if (options.client?.secret) headers.Authorization = basic(options.client.id, options.client.secret)
  else if (options.client) body.set('client_id', options.client.id)
  return call(`${ORIGIN}${path}`, { method: 'POST', rawBody: body.toString(), headers })
}

/** A PKCE pair (RFC 7636 S256). */
export async function pkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)))
  const challenge = btoa(String.fromCharCode(...digest))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
  return { verifier, challenge }
}

/** An authorization request's path, with the usual parameters (PKCE, state, nonce) unless overridden; null drops one. */
export function authorizePath(clientId: string, challenge: string, params: Record<string, string | string[] | null> = {}): string {
  const defaults: Record<string, string | string[] | null> = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email',
    state: 'state-123',
    nonce: 'nonce-456',
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }
  const query = new URLSearchParams()
  for (const [name, value] of Object.entries({ ...defaults, ...params })) {
    if (value === null) continue
    for (const one of [value].flat()) query.append(name, one)
  }
  return `/oauth2/authorize?${query}`
}

/** The consent form's binding field on a consent page. */
export const bindingOf = (html: string) => /name="consent_binding" value="([^"]+)"/.exec(html)?.[1] ?? ''

/**
 * Goes through the authorization endpoint in `browser` (signed in already): the consent page if
 * shown, Allow, and the redirect back. Returns the redirect's URL.
 */
export async function authorize(browser: PageBrowser, path: string): Promise<URL> {
  const first = await browser.get(path)
  if (first.status === 303) return new URL(first.headers.get('Location')!, ORIGIN)
  expect(first.status, await first.clone().text()).toBe(200)
  const html = await first.text()
  const allowed = await browser.post(path, { decision: 'allow', consent_binding: bindingOf(html) })
  expect(allowed.status, await allowed.clone().text()).toBe(303)
  return new URL(allowed.headers.get('Location')!, ORIGIN)
}

/** The code an authorization gave, after checking it came back to the client with state and iss. */
export function codeFrom(redirect: URL): string {
  expect(`${redirect.origin}${redirect.pathname}`).toBe(REDIRECT_URI)
  expect(redirect.searchParams.get('iss')).toBe(ISSUER)
  expect(redirect.searchParams.get('error'), redirect.searchParams.get('error_description') ?? '').toBeNull()
  return redirect.searchParams.get('code') ?? ''
}

export async function exchange(client: TestClient, code: string, verifier: string, extra: Record<string, string> = {}) {
  return oauthPost(
    '/oauth2/token',
    { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier, ...extra },
    { client },
  )
}

/** A person signed in on the hosted pages, in a browser of their own. */
export async function signedInBrowser() {
  const { account } = await signup()
  const browser = new PageBrowser()
  const response = await browser.signIn(account)
  expect(response.status).toBe(303)
  return { browser, account }
}

/** A whole authorization: a client, a signed-in browser, consent, and the code's exchange. */
export async function authorizedTokens(clientOverrides: Record<string, unknown> = {}, params: Record<string, string | null> = {}) {
  const client = await registeredClient(clientOverrides)
  const { browser, account } = await signedInBrowser()
  const { verifier, challenge } = await pkce()
  const code = codeFrom(await authorize(browser, authorizePath(client.id, challenge, params)))
  const response = await exchange(client, code, verifier)
  expect(response.status, await response.clone().text()).toBe(200)
  return { client, browser, account, code, verifier, tokens: (await response.json()) as TokenAnswer }
}

/**
 * A skip_consent client's code for a signed-in browser, authorized under these bindings
 * (OAUTH_RESOURCES, say), and its exchange under bindings of the exchange's own.
 */
export async function codeUnder(bindings: Record<string, string>, params: Record<string, string | string[] | null> = {}) {
  const client = await registeredClient({ skip_consent: true })
  const { browser } = await signedInBrowser()
  const { verifier, challenge } = await pkce()
  const authorized = await call(`${ORIGIN}${authorizePath(client.id, challenge, params)}`, {
    headers: { Cookie: [...browser.cookies].map(([n, v]) => `${n}=${v}`).join('; '), 'CF-Connecting-IP': browser.ip },
    env: bindings,
  })
  const code = codeFrom(new URL(authorized.headers.get('Location')!))
  const exchangeUnder = (exchangeBindings: Record<string, string>, extra: Record<string, string> = {}) =>
    call(`${ORIGIN}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: basic(client.id, client.secret) },
      rawBody: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
        ...extra,
      }).toString(),
      env: exchangeBindings,
    })
  return { client, code, exchangeUnder }
}
