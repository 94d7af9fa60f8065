import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { call, decodeJwtPart, ORIGIN, signup, totpFor, withTotp } from './helpers'
import {
  authorize,
  authorizedTokens,
  authorizePath,
  bindingOf,
  codeFrom,
  exchange,
  ISSUER,
  oauthPost,
  pkce,
  REDIRECT_URI,
  registeredClient,
  signedInBrowser,
  type TokenAnswer,
} from './oauth-helpers'
import { alertOf, PageBrowser } from './page-browser'

const claimsOf = (jwt: string) => decodeJwtPart(jwt.split('.')[1]!)
const headerOf = (jwt: string) => decodeJwtPart(jwt.split('.')[0]!)

describe('the authorization code flow', () => {
  it('signs a person in, asks for consent, and gives the client an ID token (RS256), an access token and a refresh token', async () => {
    const { client, account, tokens } = await authorizedTokens()
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'openid profile email' })
    expect(headerOf(tokens.id_token!)).toMatchObject({ alg: 'RS256', typ: 'JWT' })
    const id = claimsOf(tokens.id_token!)
    expect(id).toMatchObject({
      iss: ISSUER,
      aud: client.id,
      nonce: 'nonce-456',
      acr: 'aal1',
      preferred_username: account.username,
      email: account.email,
    })
    expect(id.email_verified).toBe(false)
    expect(typeof id.sid).toBe('string')
    expect(headerOf(tokens.access_token!)).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' })
    expect(claimsOf(tokens.access_token!)).toMatchObject({ iss: ISSUER, aud: ISSUER, client_id: client.id, scope: 'openid profile email' })
    expect(tokens.refresh_token).toMatch(/^[0-9a-f-]{36}\./)
  })

  it('sends a person who is not signed in to the sign-in page, and back to the request afterwards', async () => {
    const client = await registeredClient()
    const { account } = await signup()
    const browser = new PageBrowser()
    const { challenge } = await pkce()
    const path = authorizePath(client.id, challenge)
    const first = await browser.get(path)
    expect(first.status).toBe(303)
    const signInAt = first.headers.get('Location')!
    expect(signInAt).toBe(`/sign-in?return_to=${encodeURIComponent(path)}`)
    const signedIn = await browser.signIn(account, path)
    expect(signedIn.headers.get('Location')).toBe(path)
    const consent = await browser.get(path)
    expect(consent.status).toBe(200)
    const html = await consent.text()
    expect(html).toContain('<h1>Photo app wants to use your account</h1>')
    expect(html).toContain('>Allow</button>')
    expect(html).toContain('>Deny</button>')
  })

  it('remembers consent per person, client and scopes: asked again only for a new scope or with prompt=consent', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    await authorize(browser, authorizePath(client.id, challenge))
    const again = await browser.get(authorizePath(client.id, challenge, { scope: 'openid email' }))
    expect(again.status).toBe(303)
    expect(new URL(again.headers.get('Location')!).searchParams.get('code')).toBeTruthy()
    expect((await browser.get(authorizePath(client.id, challenge, { scope: 'openid offline_access' }))).status).toBe(200)
    expect((await browser.get(authorizePath(client.id, challenge, { prompt: 'consent' }))).status).toBe(200)
  })

  it('skips consent for a skip_consent client', async () => {
    const client = await registeredClient({ skip_consent: true })
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    const response = await browser.get(authorizePath(client.id, challenge))
    expect(response.status).toBe(303)
    expect(new URL(response.headers.get('Location')!).searchParams.get('code')).toBeTruthy()
  })

  it('sends access_denied back with state and iss when the person denies, and audits it', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    const path = authorizePath(client.id, challenge)
    const html = await (await browser.get(path)).text()
    const denied = await browser.post(path, { decision: 'deny', consent_binding: bindingOf(html) })
    const location = new URL(denied.headers.get('Location')!)
    expect(location.searchParams.get('error')).toBe('access_denied')
    expect(location.searchParams.get('state')).toBe('state-123')
    expect(location.searchParams.get('iss')).toBe(ISSUER)
    const events = await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE action = 'oauth.consent_denied' AND details LIKE ?")
      .bind(`%${client.id}%`)
      .first<{ n: number }>()
    expect(events?.n).toBe(1)
  })
})

describe('consent is bound to the browser session that loaded it', () => {
  it('refuses a consent form loaded in one session and sent in another, and grants nothing', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    const path = authorizePath(client.id, challenge)
    const html = await (await browser.get(path)).text()
    // Someone else signs in on the same browser (same CSRF cookie) before the form is sent.
    const { account: other } = await signup()
    await browser.get(`/sign-in?prompt=login`)
    await browser.post('/sign-in', { username: other.username, password: other.password })
    const response = await browser.post(path, { decision: 'allow', consent_binding: bindingOf(html) })
    expect(response.status).toBe(403)
    expect(response.headers.get('Location')).toBeNull()
    const consents = await env.DB.prepare('SELECT count(*) AS n FROM oauth_consents WHERE client_id = ?')
      .bind(client.id)
      .first<{ n: number }>()
    expect(consents?.n).toBe(0)
  })

  it('refuses a consent form whose request was changed to ask for more', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    const html = await (await browser.get(authorizePath(client.id, challenge, { scope: 'openid' }))).text()
    const widened = await browser.post(authorizePath(client.id, challenge, { scope: 'openid email offline_access' }), {
      decision: 'allow',
      consent_binding: bindingOf(html),
    })
    expect(widened.status).toBe(403)
  })
})

describe('the authorization request: what is refused, and where the refusal goes', () => {
  it("matches a native client's loopback redirect URI on any port, and nothing else loosely", async () => {
    const client = await registeredClient({ type: 'public', application_type: 'native', redirect_uris: ['http://127.0.0.1/callback'] })
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    const anyPort = await browser.get(authorizePath(client.id, challenge, { redirect_uri: 'http://127.0.0.1:49152/callback' }))
    expect(anyPort.status).toBe(200)
    for (const uri of ['http://127.0.0.1:49152/other', 'http://localhost:49152/callback', 'http://127.0.0.1:49152/callback?x=1']) {
      expect((await browser.get(authorizePath(client.id, challenge, { redirect_uri: uri }))).status, uri).toBe(400)
    }
  })

  it('shows an unknown client or an unregistered redirect_uri on a page (400), never redirecting', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    const cases: Record<string, string | null>[] = [
      { client_id: 'nobody' },
      { redirect_uri: 'https://evil.example/callback' },
      { redirect_uri: `${REDIRECT_URI}/` },
      { redirect_uri: `${REDIRECT_URI}?x=1` },
      { redirect_uri: 'http://localhost:5174/callback' },
      { redirect_uri: null },
    ]
    for (const params of cases) {
      const response = await browser.get(authorizePath(client.id, challenge, params))
      expect(response.status, JSON.stringify(params)).toBe(400)
      expect(response.headers.get('Location')).toBeNull()
      expect(alertOf(await response.text())).toBeTruthy()
    }
  })

  it('refuses a request without PKCE, or with plain PKCE, back at the client as invalid_request', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    const cases: Record<string, string | null>[] = [
      { code_challenge: null, code_challenge_method: null },
      { code_challenge_method: 'plain' },
      { code_challenge_method: null },
    ]
    for (const params of cases) {
      const response = await browser.get(authorizePath(client.id, challenge, params))
      const location = new URL(response.headers.get('Location')!)
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI)
      expect(location.searchParams.get('error'), JSON.stringify(params)).toBe('invalid_request')
      expect(location.searchParams.get('iss')).toBe(ISSUER)
      expect(location.searchParams.get('state')).toBe('state-123')
    }
  })

  it('refuses openid without a nonce, an unknown scope and a resource not configured', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { challenge } = await pkce()
    const errorOf = async (params: Record<string, string | null>) =>
      new URL((await browser.get(authorizePath(client.id, challenge, params))).headers.get('Location')!).searchParams.get('error')
    expect(await errorOf({ nonce: null })).toBe('invalid_request')
    expect(await errorOf({ scope: 'openid admin' })).toBe('invalid_scope')
    expect(await errorOf({ resource: 'https://other.example/api' })).toBe('invalid_target')
  })

  it('answers prompt=none with login_required when nobody is signed in, and consent_required before any consent', async () => {
    const client = await registeredClient()
    const { challenge } = await pkce()
    const anonymous = new PageBrowser()
    const first = await anonymous.get(authorizePath(client.id, challenge, { prompt: 'none' }))
    expect(new URL(first.headers.get('Location')!).searchParams.get('error')).toBe('login_required')
    const { browser } = await signedInBrowser()
    const second = await browser.get(authorizePath(client.id, challenge, { prompt: 'none' }))
    expect(new URL(second.headers.get('Location')!).searchParams.get('error')).toBe('consent_required')
  })

  it('asks for a fresh sign-in for prompt=login, and accepts the one it asked for', async () => {
    const client = await registeredClient({ skip_consent: true })
    const { browser, account } = await signedInBrowser()
    const { challenge } = await pkce()
    const response = await browser.get(authorizePath(client.id, challenge, { prompt: 'login' }))
    const location = response.headers.get('Location')!
    expect(location).toMatch(/^\/sign-in\?prompt=login&return_to=/)
    const back = decodeURIComponent(location.split('return_to=')[1]!)
    expect(back).toContain('auth_after=')
    expect(back).not.toContain('prompt=login')
    // The sign-in page shows its form although the browser is signed in.
    expect((await browser.get(location)).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const signed = await browser.signIn(account, back)
    expect(signed.headers.get('Location')).toBe(back)
    const code = new URL((await browser.get(back)).headers.get('Location')!).searchParams.get('code')
    expect(code).toBeTruthy()
  })

  it('steps up with acr_values=aal2 through the second step, and says unmet_authentication_requirements for an account without one', async () => {
    const client = await registeredClient({ skip_consent: true })
    const { challenge } = await pkce()
    const { browser } = await signedInBrowser()
    const plain = await browser.get(authorizePath(client.id, challenge, { acr_values: 'aal2' }))
    expect(new URL(plain.headers.get('Location')!).searchParams.get('error')).toBe('unmet_authentication_requirements')

    const { account, secret, recoveryCodes } = await withTotp()
    const twoFactor = new PageBrowser()
    // An aal1 browser session of a two-factor account: one opened by a first-party sign-in of long ago is simulated by
    // lowering the session's level in the database.
    await twoFactor.signIn(account)
    await twoFactor.post('/sign-in/second-step', { code: await totpFor(secret, Date.now() + 30_000) })
    await env.DB.prepare("UPDATE sessions SET aal = 'aal1', amr = '[\"pwd\"]' WHERE user_id = (SELECT id FROM users WHERE username = ?)")
      .bind(account.username)
      .run()
    const stepUp = await twoFactor.get(authorizePath(client.id, challenge, { acr_values: 'aal2' }))
    const location = stepUp.headers.get('Location')!
    expect(location).toMatch(/^\/sign-in\?prompt=login&return_to=/)
    const back = decodeURIComponent(location.split('return_to=')[1]!)
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const password = await twoFactor.signIn(account, back)
    expect(password.headers.get('Location')).toMatch(/^\/sign-in\/second-step/)
    const second = await twoFactor.post(`/sign-in/second-step?return_to=${encodeURIComponent(back)}`, {
      recovery_code: recoveryCodes[0]!,
      return_to: back,
    })
    expect(second.headers.get('Location')).toBe(back)
    const done = await twoFactor.get(back)
    expect(new URL(done.headers.get('Location')!).searchParams.get('code')).toBeTruthy()
  })
})

describe('the token endpoint: authorization_code and refresh_token', () => {
  it('spends a code once; a second presentation is invalid_grant and revokes what the first issued', async () => {
    const { client, code, verifier, tokens } = await authorizedTokens()
    const replay = await exchange(client, code, verifier)
    expect(replay.status).toBe(400)
    expect(((await replay.json()) as TokenAnswer).error).toBe('invalid_grant')
    const refreshed = await oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { client })
    expect(((await refreshed.json()) as TokenAnswer).error).toBe('invalid_grant')
    const introspected = await oauthPost('/oauth2/introspect', { token: tokens.access_token! }, { client })
    expect(await introspected.json()).toEqual({ active: false })
  })

  it('refuses a wrong code_verifier, a missing one and another redirect_uri, and the code still works after', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { verifier, challenge } = await pkce()
    const code = codeFrom(await authorize(browser, authorizePath(client.id, challenge)))
    const other = await pkce()
    const cases: Record<string, string>[] = [{ code_verifier: other.verifier }, { redirect_uri: 'http://localhost:5173/other' }]
    for (const extra of cases) {
      const response = await exchange(client, code, verifier, extra)
      expect(((await response.json()) as TokenAnswer).error, JSON.stringify(extra)).toBe('invalid_grant')
    }
    const missing = await oauthPost('/oauth2/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, { client })
    expect(((await missing.json()) as TokenAnswer).error).toBe('invalid_request')
    expect((await exchange(client, code, verifier)).status).toBe(200)
  })

  it("refuses another client's code without spending it", async () => {
    const client = await registeredClient()
    const thief = await registeredClient({ name: 'Thief' })
    const { browser } = await signedInBrowser()
    const { verifier, challenge } = await pkce()
    const code = codeFrom(await authorize(browser, authorizePath(client.id, challenge)))
    expect(((await (await exchange(thief, code, verifier)).json()) as TokenAnswer).error).toBe('invalid_grant')
    expect((await exchange(client, code, verifier)).status).toBe(200)
  })

  it('rotates refresh tokens; a retry within the grace window gets the same answer, a later reuse ends the grant', async () => {
    const { client, tokens } = await authorizedTokens()
    const first = (await (
      await oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { client })
    ).json()) as TokenAnswer
    expect(first.refresh_token).toBeTruthy()
    expect(first.refresh_token).not.toBe(tokens.refresh_token)
    const retry = (await (
      await oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { client })
    ).json()) as TokenAnswer
    expect(retry.refresh_token).toBe(first.refresh_token)
    await env.DB.prepare('UPDATE oauth_grants SET last_used_at = last_used_at - 60000').run()
    const reuse = await oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { client })
    expect(((await reuse.json()) as TokenAnswer).error).toBe('invalid_grant')
    const current = await oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token! }, { client })
    expect(((await current.json()) as TokenAnswer).error).toBe('invalid_grant')
    const events = await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE action = 'oauth.refresh_reuse_detected'").first<{
      n: number
    }>()
    expect(events?.n).toBeGreaterThan(0)
  })

  it('ends a grant without offline_access with the browser session it was given in', async () => {
    const { client, browser, tokens } = await authorizedTokens()
    await browser.post('/sign-out', {})
    const refreshed = await oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { client })
    expect(((await refreshed.json()) as TokenAnswer).error).toBe('invalid_grant')
  })

  it('keeps an offline_access grant after sign-out', async () => {
    const { client, browser, tokens } = await authorizedTokens({}, { scope: 'openid offline_access' })
    await browser.post('/sign-out', {})
    const refreshed = await oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { client })
    expect(refreshed.status, await refreshed.clone().text()).toBe(200)
  })
})

describe('a public client registered dynamically', () => {
  it('registers, authorizes with a resource and exchanges its code with its id alone; the token is for that resource', async () => {
    const resource = 'https://mcp.example.com/mcp'
    const registered = await call(`${ORIGIN}/oauth2/register`, {
      json: {
        client_name: 'An MCP client',
        redirect_uris: ['http://127.0.0.1/callback'],
        token_endpoint_auth_method: 'none',
        application_type: 'native',
      },
      env: { OAUTH_DYNAMIC_REGISTRATION: 'true' },
    })
    expect(registered.status).toBe(201)
    const { client_id } = (await registered.json()) as { client_id: string }
    const { browser } = await signedInBrowser()
    const { verifier, challenge } = await pkce()
    const redirectUri = 'http://127.0.0.1:61000/callback'
    const path = authorizePath(client_id, challenge, { redirect_uri: redirectUri, scope: null, nonce: null, resource })
    const consent = await call(`${ORIGIN}${path}`, {
      headers: { Cookie: [...browser.cookies].map(([n, v]) => `${n}=${v}`).join('; '), 'CF-Connecting-IP': browser.ip },
      env: { OAUTH_RESOURCES: JSON.stringify([resource]) },
    })
    expect(consent.status, await consent.clone().text()).toBe(200)
    const html = await consent.text()
    const allowed = await call(`${ORIGIN}${path}`, {
      method: 'POST',
      headers: {
        Cookie: [...browser.cookies].map(([n, v]) => `${n}=${v}`).join('; '),
        'CF-Connecting-IP': browser.ip,
        Origin: ORIGIN,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      rawBody: new URLSearchParams({ csrf_token: browser.csrf(), decision: 'allow', consent_binding: bindingOf(html) }).toString(),
      env: { OAUTH_RESOURCES: JSON.stringify([resource]) },
    })
    const location = new URL(allowed.headers.get('Location')!)
    expect(`${location.origin}${location.pathname}`).toBe(redirectUri)
    const exchanged = await call(`${ORIGIN}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      rawBody: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id,
        code: location.searchParams.get('code')!,
        redirect_uri: redirectUri,
        code_verifier: verifier,
        resource,
      }).toString(),
      env: { OAUTH_RESOURCES: JSON.stringify([resource]) },
    })
    expect(exchanged.status, await exchanged.clone().text()).toBe(200)
    const tokens = (await exchanged.json()) as TokenAnswer
    expect(tokens.id_token).toBeUndefined()
    expect(claimsOf(tokens.access_token!)).toMatchObject({ aud: resource, client_id, scope: '' })
    // A token for another resource is not a userinfo token.
    const info = await call(`${ORIGIN}/oauth2/userinfo`, { headers: { Authorization: `Bearer ${tokens.access_token}` } })
    expect(info.status).toBe(401)
  })
})

describe('tokens issued to clients', () => {
  it('answers CORS for any origin at the token endpoint, and none at the account API', async () => {
    const token = await call(`${ORIGIN}/oauth2/token`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://spa.example', 'Access-Control-Request-Method': 'POST' },
    })
    expect(token.headers.get('Access-Control-Allow-Origin')).toBe('*')
    expect(token.headers.get('Access-Control-Allow-Credentials')).toBeNull()
    const api = await call('/users/me', {
      method: 'OPTIONS',
      headers: { Origin: 'https://spa.example', 'Access-Control-Request-Method': 'GET' },
    })
    expect(api.headers.get('Access-Control-Allow-Origin')).toBeNull()
  })

  it('a refresh may narrow the scope of its access token, never widen it', async () => {
    const { client, tokens } = await authorizedTokens()
    const narrowed = await oauthPost(
      '/oauth2/token',
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, scope: 'openid' },
      { client },
    )
    const body = (await narrowed.json()) as TokenAnswer
    expect(body.scope).toBe('openid')
    const widened = await oauthPost(
      '/oauth2/token',
      { grant_type: 'refresh_token', refresh_token: body.refresh_token!, scope: 'openid offline_access' },
      { client },
    )
    expect(((await widened.json()) as TokenAnswer).error).toBe('invalid_scope')
  })

  it('are never accepted by the account API', async () => {
    const { tokens } = await authorizedTokens()
    const response = await call('/users/me', { token: tokens.access_token })
    expect(response.status).toBe(401)
  })

  it('userinfo answers the claims the scopes allow, and nothing once the grant is revoked by the person', async () => {
    const { client, account, tokens } = await authorizedTokens()
    const info = await call(`${ORIGIN}/oauth2/userinfo`, { headers: { Authorization: `Bearer ${tokens.access_token}` } })
    expect(info.status).toBe(200)
    expect(await info.json()).toMatchObject({ preferred_username: account.username, email: account.email, email_verified: false })

    const api = await call('/users/login', { json: { username: account.username, password: account.password } })
    const { access_token: apiToken } = (await api.json()) as { access_token: string }
    const list = (await (await call('/users/me/grants', { token: apiToken })).json()) as {
      grants: { client_id: string; scopes: string[] }[]
    }
    expect(list.grants).toMatchObject([{ client_id: client.id, scopes: ['openid', 'profile', 'email'] }])
    expect((await call(`/users/me/grants/${client.id}`, { method: 'DELETE', token: apiToken })).status).toBe(204)
    const after = await call(`${ORIGIN}/oauth2/userinfo`, { headers: { Authorization: `Bearer ${tokens.access_token}` } })
    expect(after.status).toBe(401)
    expect(after.headers.get('WWW-Authenticate')).toContain('invalid_token')
  })

  it('lets a client revoke only its own tokens', async () => {
    const { client, tokens } = await authorizedTokens()
    const other = await registeredClient({ name: 'Other app' })
    const foreign = await oauthPost('/oauth2/revoke', { token: tokens.refresh_token! }, { client: other })
    expect(foreign.status).toBe(400)
    const stillWorks = await oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { client })
    expect(stillWorks.status).toBe(200)
    const { refresh_token: current } = (await stillWorks.json()) as TokenAnswer
    expect((await oauthPost('/oauth2/revoke', { token: current! }, { client })).status).toBe(200)
    const dead = await oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: current! }, { client })
    expect(((await dead.json()) as TokenAnswer).error).toBe('invalid_grant')
  })

  it('the end-session endpoint signs the browser out and goes back with state to a registered URI only', async () => {
    const { browser, tokens } = await authorizedTokens({ post_logout_redirect_uris: ['http://localhost:5173/bye'] })
    const unregistered = await browser.get(
      `/oauth2/end-session?id_token_hint=${tokens.id_token}&post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`,
    )
    expect(unregistered.status).toBe(200)
    expect(browser.session()).toBeTruthy()
    const out = await browser.get(
      `/oauth2/end-session?id_token_hint=${tokens.id_token}&post_logout_redirect_uri=${encodeURIComponent('http://localhost:5173/bye')}&state=s1`,
    )
    expect(out.headers.get('Location')).toBe('http://localhost:5173/bye?state=s1')
    expect(browser.session()).toBeUndefined()
  })
})

describe('Apps with access, on the account page', () => {
  it('lists each app the person allowed, with its own Revoke button, and revoking it ends its tokens', async () => {
    const { client, browser, tokens } = await authorizedTokens()
    const page = await (await browser.get('/account')).text()
    expect(page).toContain('<h2>Apps with access</h2>')
    expect(page).toContain('Photo app: openid, profile, email')
    expect(page).toContain(`action="/account/grants/${client.id}/revoke"`)
    expect(page).toContain('aria-label="Revoke the access of Photo app"')
    const revoked = await browser.post(`/account/grants/${client.id}/revoke`, {})
    expect(revoked.status).toBe(200)
    expect(await revoked.text()).toContain('No app has access to your account.')
    const refreshed = await oauthPost('/oauth2/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }, { client })
    expect(((await refreshed.json()) as TokenAnswer).error).toBe('invalid_grant')
  })
})

describe('discovery', () => {
  it('publishes one document at both well-known paths, with the endpoints', async () => {
    const oidc = (await (await call(`${ORIGIN}/.well-known/openid-configuration`)).json()) as Record<string, unknown>
    const rfc8414 = await (await call(`${ORIGIN}/.well-known/oauth-authorization-server`)).json()
    expect(rfc8414).toEqual(oidc)
    expect(oidc).toMatchObject({
      issuer: ISSUER,
      authorization_endpoint: `${ISSUER}/oauth2/authorize`,
      token_endpoint: `${ISSUER}/oauth2/token`,
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      id_token_signing_alg_values_supported: ['RS256', 'EdDSA'],
    })
    expect(oidc.registration_endpoint).toBeUndefined()
    const resource = (await (await call(`${ORIGIN}/.well-known/oauth-protected-resource`)).json()) as Record<string, unknown>
    expect(resource).toMatchObject({ resource: ISSUER, authorization_servers: [ISSUER] })
  })
})
