import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { adminCall, call, decodeJwtPart, ORIGIN, signup, storedUser } from './helpers'
import {
  authorize,
  authorizedTokens,
  authorizePath,
  bindingOf,
  codeFrom,
  codeUnder,
  exchange,
  ISSUER,
  oauthPost,
  pkce,
  REDIRECT_URI,
  registeredClient,
  signedInBrowser,
  type TestClient,
  type TokenAnswer,
} from './oauth-helpers'
import { PageBrowser } from './page-browser'

/*
 * The OpenID Provider's rules as an independent review tried to break them from the outside (of
 * commit ee7f087; twelve of these failed there and were fixed). Each pins a behaviour the
 * contract or RFC 9700 asks for.
 */

const claimsOf = (jwt: string) => decodeJwtPart(jwt.split('.')[1]!)
const refreshWith = (client: TestClient, refreshToken: string, extra: Record<string, string> = {}) =>
  oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }, { client })

/** Moves every session of a user into the past: their sign-in proof is an hour old. */
async function ageSessions(username: string) {
  const user = await storedUser(username)
  await env.DB.prepare('UPDATE sessions SET auth_time = auth_time - 3600000 WHERE user_id = ?').bind(user!.id).run()
}

describe('auth_after is signed by this server, not written by a client', () => {
  it('does not let a request skip prompt=login by naming auth_after itself', async () => {
    const client = await registeredClient({ skip_consent: true })
    const { browser, account } = await signedInBrowser()
    await ageSessions(account.username)
    const { challenge } = await pkce()
    const response = await browser.get(authorizePath(client.id, challenge, { prompt: 'login', auth_after: '0' }))
    expect(response.status).toBe(303)
    // A fresh proof is asked for; no code goes back on the hour-old sign-in.
    expect(response.headers.get('Location')).toMatch(/^\/sign-in\?/)
  })

  it('does not let a request skip max_age by naming auth_after itself', async () => {
    const client = await registeredClient({ skip_consent: true })
    const { browser, account } = await signedInBrowser()
    await ageSessions(account.username)
    const { challenge } = await pkce()
    const response = await browser.get(authorizePath(client.id, challenge, { max_age: '60', auth_after: '1' }))
    expect(response.headers.get('Location')).toMatch(/^\/sign-in\?/)
    const silent = await browser.get(authorizePath(client.id, challenge, { max_age: '60', prompt: 'none', auth_after: '1' }))
    expect(new URL(silent.headers.get('Location')!, ORIGIN).searchParams.get('error')).toBe('login_required')
  })
})

describe('prompt=login for somebody not signed in yet', () => {
  it('asks for one sign-in, not two', async () => {
    const client = await registeredClient({ skip_consent: true })
    const { account } = await signup()
    const browser = new PageBrowser()
    const { challenge } = await pkce()
    const first = await browser.get(authorizePath(client.id, challenge, { prompt: 'login' }))
    const signInAt = first.headers.get('Location')!
    expect(signInAt).toMatch(/^\/sign-in\?/)
    const back = decodeURIComponent(new URL(signInAt, ORIGIN).searchParams.get('return_to')!)
    const signed = await browser.signIn(account, back)
    expect(signed.status).toBe(303)
    const next = await browser.get(signed.headers.get('Location')!)
    // The sign-in just made is the fresh one prompt=login asked for: the code goes back now.
    const location = new URL(next.headers.get('Location')!, ORIGIN)
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI)
    expect(location.searchParams.get('code')).toBeTruthy()
  })
})

describe('a code presented twice at once', () => {
  it('is spent by one; the other is invalid_grant and ends what the first issued', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { verifier, challenge } = await pkce()
    const code = codeFrom(await authorize(browser, authorizePath(client.id, challenge)))
    const answers = await Promise.all([exchange(client, code, verifier), exchange(client, code, verifier)])
    const bodies = (await Promise.all(answers.map((answer) => answer.json()))) as TokenAnswer[]
    const won = bodies.filter((body) => body.access_token)
    const lost = bodies.filter((body) => body.error)
    expect(won).toHaveLength(1)
    expect(lost.map((body) => body.error)).toEqual(['invalid_grant'])
    // RFC 6749 §4.1.2 / the contract: a code presented twice revokes what its first use issued.
    const refreshed = await refreshWith(client, won[0]!.refresh_token!)
    expect(((await refreshed.json()) as TokenAnswer).error).toBe('invalid_grant')
    const introspected = await oauthPost('/oauth2/introspect', { token: won[0]!.access_token! }, { client })
    expect(await introspected.json()).toEqual({ active: false })
  })
})

describe('refresh: scope and resource may narrow, never widen', () => {
  it('gives a narrower scope when a narrower one is asked for (RFC 6749 §6)', async () => {
    const { client, tokens } = await authorizedTokens()
    const refreshed = await refreshWith(client, tokens.refresh_token!, { scope: 'openid' })
    expect(refreshed.status).toBe(200)
    const body = (await refreshed.json()) as TokenAnswer
    expect(body.scope).toBe('openid')
    expect(claimsOf(body.access_token!).scope).toBe('openid')
  })

  it('does not give a token for PUBLIC_URL (userinfo) under a grant that named another resource only', async () => {
    const resource = 'https://api.review.example/'
    const withResources = { OAUTH_RESOURCES: JSON.stringify([resource]) }
    const client = await registeredClient({ skip_consent: true })
    const { browser } = await signedInBrowser()
    const { verifier, challenge } = await pkce()
    const path = authorizePath(client.id, challenge, { resource })
    const authorized = await call(`${ORIGIN}${path}`, {
      headers: { Cookie: [...browser.cookies].map(([n, v]) => `${n}=${v}`).join('; '), 'CF-Connecting-IP': browser.ip },
      env: withResources,
    })
    const code = codeFrom(new URL(authorized.headers.get('Location')!))
    const body = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      resource: ISSUER,
    })
    const exchanged = await call(`${ORIGIN}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${btoa(`${client.id}:${client.secret}`)}` },
      rawBody: body.toString(),
      env: withResources,
    })
    expect(((await exchanged.json()) as TokenAnswer).error).toBe('invalid_target')
  })
})

describe('a refused token request changes nothing', () => {
  it('a refresh refused for a wider scope leaves the refresh token current (no rotation, no theft alarm later)', async () => {
    const { client, tokens } = await authorizedTokens()
    const refused = await refreshWith(client, tokens.refresh_token!, { scope: 'openid offline_access' })
    expect(((await refused.json()) as TokenAnswer).error).toBe('invalid_scope')
    // The client retries later, after the grace window, with the token it still holds.
    await env.DB.prepare('UPDATE oauth_grants SET last_used_at = last_used_at - 60000 WHERE client_id = ?').bind(client.id).run()
    const retried = await refreshWith(client, tokens.refresh_token!)
    expect(retried.status, await retried.clone().text()).toBe(200)
  })

  it('a refresh refused for a resource outside the grant leaves the refresh token current', async () => {
    const { client, tokens } = await authorizedTokens()
    const refused = await refreshWith(client, tokens.refresh_token!, { resource: 'https://elsewhere.example/' })
    expect(((await refused.json()) as TokenAnswer).error).toBe('invalid_target')
    await env.DB.prepare('UPDATE oauth_grants SET last_used_at = last_used_at - 60000 WHERE client_id = ?').bind(client.id).run()
    expect((await refreshWith(client, tokens.refresh_token!)).status).toBe(200)
  })

  it('a code whose grant names two resources, exchanged without naming one, is invalid_target and stays unspent', async () => {
    const resources = ['https://api.review.example/', 'https://files.review.example/']
    const withResources = { OAUTH_RESOURCES: JSON.stringify(resources) }
    const { exchangeUnder } = await codeUnder(withResources, { resource: resources })
    expect(((await (await exchangeUnder(withResources)).json()) as TokenAnswer).error).toBe('invalid_target')
    const named = await exchangeUnder(withResources, { resource: resources[1]! })
    expect(named.status, await named.clone().text()).toBe(200)
    expect(claimsOf(((await named.json()) as TokenAnswer).access_token!).aud).toBe(resources[1])
  })

  it('a spent code presented as a refresh token is invalid_grant and ends nothing (a code never passes for one)', async () => {
    const { client, code, tokens } = await authorizedTokens()
    const refused = await refreshWith(client, code)
    expect(((await refused.json()) as TokenAnswer).error).toBe('invalid_grant')
    const refreshed = await refreshWith(client, tokens.refresh_token!)
    expect(refreshed.status, await refreshed.clone().text()).toBe(200)
  })

  it('a code exchange refused for a bad resource does not spend the code', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { verifier, challenge } = await pkce()
    const code = codeFrom(await authorize(browser, authorizePath(client.id, challenge)))
    const refused = await exchange(client, code, verifier, { resource: 'https://elsewhere.example/' })
    expect(((await refused.json()) as TokenAnswer).error).toBe('invalid_target')
    const again = await exchange(client, code, verifier)
    expect(again.status, await again.clone().text()).toBe(200)
  })
})

describe('end-session: a logout link is not a standing licence', () => {
  it("does not end a later browser session with an old session's ID token, without asking", async () => {
    const { browser, account, tokens } = await authorizedTokens({ post_logout_redirect_uris: ['http://localhost:5173/bye'] })
    const oldHint = tokens.id_token!
    await browser.post('/sign-out', {})
    expect(browser.session()).toBeUndefined()
    await browser.signIn(account)
    const current = browser.session()
    expect(current).toBeTruthy()
    // Anyone holding the person's old ID token (every relying party they ever used gets one) sends them here.
    await browser.get(
      `/oauth2/end-session?id_token_hint=${oldHint}&post_logout_redirect_uri=${encodeURIComponent('http://localhost:5173/bye')}`,
    )
    expect(browser.session()).toBe(current)
    expect((await browser.get('/account')).status).toBe(200)
  })
})

describe('prompt=none before any consent', () => {
  it('tells a client the person has not allowed it, and nothing about their second factors', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    const response = await browser.get(authorizePath(client.id, challenge, { prompt: 'none', acr_values: 'aal2' }))
    const error = new URL(response.headers.get('Location')!).searchParams.get('error')
    expect(error).not.toBe('unmet_authentication_requirements')
  })
})

describe('offline grants after an account is recovered', () => {
  it('an admin ending every session of an account also ends its offline grants', async () => {
    const { client, account, tokens } = await authorizedTokens({}, { scope: 'openid offline_access' })
    const user = await storedUser(account.username)
    const ended = await adminCall(client.admin, `/users/${user!.id}/sessions`, { method: 'DELETE' })
    expect(ended.status).toBeLessThan(300)
    const refreshed = await refreshWith(client, tokens.refresh_token!)
    expect(((await refreshed.json()) as TokenAnswer).error).toBe('invalid_grant')
  })
})

describe('Apps with access', () => {
  it('lists a skip_consent client that holds an offline grant, so the person can see and revoke it', async () => {
    const { client, account } = await authorizedTokens({ skip_consent: true }, { scope: 'openid offline_access' })
    const api = await call('/users/login', { json: { username: account.username, password: account.password } })
    const { access_token: apiToken } = (await api.json()) as { access_token: string }
    const list = (await (await call('/users/me/grants', { token: apiToken })).json()) as { grants: { client_id: string }[] }
    expect(list.grants.map((grant) => grant.client_id)).toContain(client.id)
  })
})

describe('rules the review could not break', () => {
  it('a native client: any loopback port, never another host, path or scheme', async () => {
    const client = await registeredClient({ type: 'public', redirect_uris: ['http://127.0.0.1/cb'], application_type: 'native' })
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    for (const bad of [
      'http://127.0.0.1.evil.example:8080/cb',
      'http://localhost:8080/cb',
      'https://127.0.0.1:8080/cb',
      'http://127.0.0.1:8080/cb/',
      'http://user@127.0.0.1:8080/cb',
      'http://127.0.0.1:8080/cb#x',
      'http://127.0.0.1:8080/%63b',
    ]) {
      const response = await browser.get(authorizePath(client.id, challenge, { redirect_uri: bad }))
      expect(response.status, bad).toBe(400)
    }
  })

  it("a deleted client's grants end: refresh, userinfo and introspection", async () => {
    const { client, tokens } = await authorizedTokens()
    expect((await adminCall(client.admin, `/oauth/clients/${client.id}`, { method: 'DELETE' })).status).toBe(204)
    expect(((await (await refreshWith(client, tokens.refresh_token!)).json()) as TokenAnswer).error).toBe('invalid_client')
    const info = await call(`${ORIGIN}/oauth2/userinfo`, { headers: { Authorization: `Bearer ${tokens.access_token}` } })
    expect(info.status).toBe(401)
    const rows = await env.DB.prepare('SELECT count(*) AS n FROM oauth_grants WHERE client_id = ?').bind(client.id).first<{ n: number }>()
    expect(rows?.n).toBe(0)
  })

  it("a client cannot revoke another client's access token, nor use its refresh token", async () => {
    const { client, tokens } = await authorizedTokens()
    const other = await registeredClient({ name: 'Other' })
    expect((await oauthPost('/oauth2/revoke', { token: tokens.access_token! }, { client: other })).status).toBe(400)
    expect(((await (await refreshWith(other, tokens.refresh_token!)).json()) as TokenAnswer).error).toBe('invalid_grant')
    expect((await refreshWith(client, tokens.refresh_token!)).status).toBe(200)
  })

  it('two refreshes at once with one token: both answered with the same next token, nothing revoked', async () => {
    const { client, tokens } = await authorizedTokens()
    const answers = await Promise.all([refreshWith(client, tokens.refresh_token!), refreshWith(client, tokens.refresh_token!)])
    const bodies = (await Promise.all(answers.map((answer) => answer.json()))) as TokenAnswer[]
    expect(bodies.map((body) => body.error)).toEqual([undefined, undefined])
    expect(bodies[0]!.refresh_token).toBe(bodies[1]!.refresh_token)
    expect((await refreshWith(client, bodies[0]!.refresh_token!)).status).toBe(200)
  })

  it('a consent form cannot be replayed in another session, or for a wider request', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    const path = authorizePath(client.id, challenge, { scope: 'openid' })
    const binding = bindingOf(await (await browser.get(path)).text())
    const wider = authorizePath(client.id, challenge, { scope: 'openid email offline_access' })
    expect((await browser.post(wider, { decision: 'allow', consent_binding: binding })).status).toBe(403)
    const { browser: other } = await signedInBrowser()
    expect((await other.post(path, { decision: 'allow', consent_binding: binding })).status).toBe(403)
  })

  it('CORS * on the token endpoint never allows credentials', async () => {
    const response = await oauthPost('/oauth2/token', { grant_type: 'client_credentials' })
    const preflight = await call(`${ORIGIN}/oauth2/token`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    })
    expect(preflight.headers.get('Access-Control-Allow-Credentials')).toBeNull()
    expect(response.headers.get('Access-Control-Allow-Credentials')).toBeNull()
    const authorizeCors = await call(`${ORIGIN}/oauth2/authorize`, { headers: { Origin: 'https://evil.example' } })
    expect(authorizeCors.headers.get('Access-Control-Allow-Origin')).toBeNull()
  })
})
