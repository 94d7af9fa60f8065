import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { call, deliver, expectProblem, linkIn, login, mailRig, ORIGIN, signup, totpFor, verifiedSignedIn, withTotp } from './helpers'
import { alertOf, PageBrowser } from './page-browser'

const sessionRow = (cookie: string | undefined) =>
  env.DB.prepare('SELECT holder, aal, amr, expires_at, created_at FROM sessions WHERE id = ?')
    .bind(cookie?.split('.')[0] ?? '')
    .first<{ holder: string; aal: string; amr: string; expires_at: number; created_at: number }>()

describe('the sign-in page', () => {
  it('names its fields and buttons as the contract does, under a nonce CSP that forbids inline script and framing', async () => {
    const browser = new PageBrowser()
    const response = await browser.get('/sign-in')
    expect(response.status).toBe(200)
    const html = await response.text()
    expect(html).toMatch(
      /<label for="username">Username or email<\/label><input id="username" name="username" type="text" autocomplete="username webauthn"/,
    )
    expect(html).toMatch(/<label for="password">Password<\/label><input id="password" name="password" type="password"/)
    expect(html).toContain('<button type="submit">Sign in</button>')
    expect(html).toContain('Sign in with a passkey')
    expect(html).toMatch(/<a href="\/sign-up">Create an account<\/a>/)
    expect(html).toMatch(/<a href="\/forgot-password">Forgot your password\?<\/a>/)
    const csp = response.headers.get('Content-Security-Policy') ?? ''
    expect(csp).toMatch(/script-src 'nonce-[0-9a-f]{32}'/)
    expect(csp).not.toContain('unsafe-inline')
    expect(csp).not.toContain('unsafe-eval')
    expect(csp).toContain("frame-ancestors 'none'")
    expect(response.headers.get('Referrer-Policy')).toBe('no-referrer')
    expect(response.headers.get('Cache-Control')).toBe('no-store')
  })

  it('loads its script with the very nonce its CSP names', async () => {
    const response = await new PageBrowser().get('/sign-in')
    const csp = response.headers.get('Content-Security-Policy') ?? ''
    const nonces = [...(await response.text()).matchAll(/nonce="([0-9a-f]+)"/g)].map((match) => match[1])
    expect(nonces.length).toBeGreaterThan(0)
    for (const nonce of nonces) expect(csp).toContain(`'nonce-${nonce}'`)
  })

  it('gives a new nonce to every response', async () => {
    const browser = new PageBrowser()
    const first = (await browser.get('/sign-in')).headers.get('Content-Security-Policy')
    const second = (await browser.get('/sign-in')).headers.get('Content-Security-Policy')
    expect(first).not.toBe(second)
  })

  it('opens a browser session held by a __Host- cookie (HttpOnly, Secure, SameSite=Lax, Path=/) over a real sessions row', async () => {
    const { account } = await signup()
    const browser = new PageBrowser()
    const response = await browser.signIn(account)
    expect(response.status).toBe(303)
    expect(response.headers.get('Location')).toBe('/account')
    const line = browser.lastSetCookies.find((cookie) => cookie.startsWith('__Host-edge-users-session='))
    expect(line).toMatch(/HttpOnly/)
    expect(line).toMatch(/Secure/)
    expect(line).toMatch(/SameSite=Lax/)
    expect(line).toMatch(/Path=\//)
    expect(line).not.toMatch(/Domain=/i)
    const row = await sessionRow(browser.session())
    expect(row?.holder).toBe('browser')
    expect(row?.aal).toBe('aal1')
    expect(row!.expires_at - row!.created_at).toBe(Number(env.BROWSER_SESSION_TTL_SECONDS) * 1000)
    // Listed like any session of the account.
    const tokens = await login(account)
    const listed = (await (await call('/users/me/sessions', { token: tokens.access_token })).json()) as { sessions: { id: string }[] }
    expect(listed.sessions.map((session) => session.id)).toContain(browser.session()?.split('.')[0])
    const page = await browser.get('/account')
    expect(page.status).toBe(200)
    const html = await page.text()
    for (const heading of ['Profile', 'Password', 'Sessions', 'Authenticator app', 'Passkeys', 'Connected accounts', 'Apps with access'])
      expect(html).toContain(`<h2>${heading}</h2>`)
    expect(html).toContain('>Sign out</button>')
    expect(html).toContain('>Change password</button>')
    expect(html).toContain('>Set up authenticator app</button>')
  })

  it('stores only a hash of the cookie', async () => {
    const { account } = await signup()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const cookie = browser.session()!
    const stored = await env.DB.prepare('SELECT refresh_token_hash FROM sessions WHERE id = ?')
      .bind(cookie.split('.')[0])
      .first<{ refresh_token_hash: string }>()
    expect(stored?.refresh_token_hash).not.toContain(cookie.split('.')[1])
    expect(cookie.split('.')[1]).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('re-renders a wrong password with the problem’s words in role="alert", 401, the same for an account that does not exist', async () => {
    const { account } = await signup()
    const wrong = new PageBrowser()
    await wrong.get('/sign-in')
    const refused = await wrong.post('/sign-in', { username: account.username, password: 'not-the-password-at-all' })
    expect(refused.status).toBe(401)
    const refusedHtml = await refused.text()
    expect(alertOf(refusedHtml)).toBe('The username or password is incorrect.')
    expect(wrong.session()).toBeUndefined()
    const nobody = new PageBrowser()
    await nobody.get('/sign-in')
    const unknown = await nobody.post('/sign-in', { username: 'nobody_here_at_all', password: 'not-the-password-at-all' })
    expect(unknown.status).toBe(401)
    expect(alertOf(await unknown.text())).toBe('The username or password is incorrect.')
  })

  it('names an empty field instead of signing in', async () => {
    const browser = new PageBrowser()
    await browser.get('/sign-in')
    const response = await browser.post('/sign-in', { username: '', password: '' })
    expect(response.status).toBe(400)
    const html = await response.text()
    expect(alertOf(html)).toBe('The request has fields that are missing or invalid.')
    expect(html).toContain('aria-invalid="true"')
  })

  it('audits a failed page sign-in like a failed API login', async () => {
    const { account, user } = await signup()
    const browser = new PageBrowser()
    await browser.get('/sign-in')
    await browser.post('/sign-in', { username: account.username, password: 'not-the-password-at-all' })
    const event = await env.DB.prepare("SELECT details FROM audit_events WHERE action = 'user.login_failed' AND target_id = ?")
      .bind(user.id)
      .first<{ details: string }>()
    expect(JSON.parse(event!.details)).toMatchObject({ reason: 'wrong_password' })
  })
})

describe('a form POST', () => {
  it('from another site is refused with 403 before anything runs, and signs nobody in', async () => {
    const { account } = await signup()
    const browser = new PageBrowser()
    await browser.get('/sign-in')
    const response = await browser.post(
      '/sign-in',
      { username: account.username, password: account.password },
      { origin: 'https://evil.example' },
    )
    expect(response.status).toBe(403)
    expect(alertOf(await response.text())).toMatch(/did not come from this site/)
    expect(browser.session()).toBeUndefined()
  })

  it('without the CSRF token, or with another browser’s, is refused', async () => {
    const { account } = await signup()
    const browser = new PageBrowser()
    await browser.get('/sign-in')
    const missing = await browser.post('/sign-in', { username: account.username, password: account.password }, { csrf: null })
    expect(missing.status).toBe(403)
    const other = new PageBrowser()
    await other.get('/sign-in')
    const forged = await browser.post('/sign-in', { username: account.username, password: account.password }, { csrf: other.csrf() })
    expect(forged.status).toBe(403)
    expect(browser.session()).toBeUndefined()
  })

  it('with Origin: null is accepted only when Sec-Fetch-Site says same-origin', async () => {
    const { account } = await signup()
    const crossSite = new PageBrowser()
    await crossSite.get('/sign-in')
    const refused = await crossSite.post(
      '/sign-in',
      { username: account.username, password: account.password },
      { origin: 'null', secFetchSite: 'cross-site' },
    )
    expect(refused.status).toBe(403)
    const sameSite = new PageBrowser()
    await sameSite.get('/sign-in')
    const accepted = await sameSite.post(
      '/sign-in',
      { username: account.username, password: account.password },
      { origin: 'null', secFetchSite: 'same-origin' },
    )
    expect(accepted.status).toBe(303)
  })

  it('to sign out from another site leaves the session alive', async () => {
    const { account } = await signup()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const response = await browser.post('/sign-out', {}, { origin: 'https://evil.example' })
    expect(response.status).toBe(403)
    expect((await browser.get('/account')).status).toBe(200)
  })

  it('over 16 KiB is refused with a page saying so', async () => {
    const browser = new PageBrowser()
    await browser.get('/sign-in')
    const response = await browser.post('/sign-in', { username: 'x', password: 'y'.repeat(20_000) })
    expect(response.status).toBe(413)
    expect(response.headers.get('Content-Type')).toMatch(/text\/html/)
    expect(alertOf(await response.text())).toBeDefined()
  })
})

describe('return_to', () => {
  it.each([
    '//evil.example',
    'https:evil.example',
    'https://evil.example/account',
    'javascript:alert(1)',
    '/\\evil.example',
    '/\t/evil.example',
    'http://localhost:8787.evil.example/',
    '/.//evil.example',
    '/%2e//evil.example',
    '/a/..//evil.example',
    '/./\\evil.example',
    '/%2E%2E//evil.example',
  ])('%s is ignored: the sign-in goes to /account', async (returnTo) => {
    const { account } = await signup()
    const browser = new PageBrowser()
    const response = await browser.signIn(account, returnTo)
    expect(response.status).toBe(303)
    expect(response.headers.get('Location')).toBe('/account')
  })

  it('is followed to a path on this origin, and to a URL on APP_URL’s origin', async () => {
    const { account } = await signup()
    const onOrigin = await new PageBrowser().signIn(account, '/account?tab=sessions')
    expect(onOrigin.headers.get('Location')).toBe('/account?tab=sessions')
    const onApp = await new PageBrowser().signIn(account, 'http://localhost:8787/welcome')
    expect(onApp.headers.get('Location')).toBe('http://localhost:8787/welcome')
  })
})

describe('the browser session', () => {
  it('is required by /account, which sends a stranger to /sign-in and back', async () => {
    const response = await new PageBrowser().get('/account')
    expect(response.status).toBe(303)
    expect(response.headers.get('Location')).toBe('/sign-in?return_to=%2Faccount')
  })

  it('is never a refresh token: presented to /users/refresh it gets nothing and its session lives on', async () => {
    const { account } = await signup()
    const browser = new PageBrowser()
    await browser.signIn(account)
    await expectProblem(await call('/users/refresh', { json: { refresh_token: browser.session() } }), 401, 'invalid_refresh_token')
    expect((await browser.get('/account')).status).toBe(200)
  })

  it('ends when revoked through the API, like any session', async () => {
    const { account } = await signup()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const tokens = await login(account)
    const id = browser.session()!.split('.')[0]
    expect((await call(`/users/me/sessions/${id}`, { method: 'DELETE', token: tokens.access_token })).status).toBe(204)
    expect((await browser.get('/account')).status).toBe(303)
  })

  it('ends at sign-out: the row is gone, the cookie cleared, and the logout audited', async () => {
    const { account, user } = await signup()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const cookie = browser.session()
    await browser.get('/account')
    const response = await browser.post('/sign-out', {})
    expect(response.status).toBe(303)
    expect(response.headers.get('Location')).toBe('/sign-in')
    expect(browser.session()).toBeUndefined()
    expect(await sessionRow(cookie)).toBeNull()
    const logout = await env.DB.prepare("SELECT 1 AS found FROM audit_events WHERE action = 'user.logout' AND target_id = ?")
      .bind(user.id)
      .first()
    expect(logout).not.toBeNull()
  })

  it('can be revoked from the account page, each session by its own Revoke button', async () => {
    const { account } = await signup()
    const other = new PageBrowser()
    await other.signIn(account)
    const browser = new PageBrowser()
    await browser.signIn(account)
    const page = await (await browser.get('/account')).text()
    const otherId = other.session()!.split('.')[0]
    expect(page).toContain(`action="/account/sessions/${otherId}/revoke"`)
    const response = await browser.post(`/account/sessions/${otherId}/revoke`, {})
    expect(response.status).toBe(200)
    expect((await other.get('/account')).status).toBe(303)
    expect((await browser.get('/account')).status).toBe(200)
  })

  it('ends for a disabled account at once', async () => {
    const { account, user } = await signup()
    const browser = new PageBrowser()
    await browser.signIn(account)
    await env.DB.prepare('UPDATE users SET disabled = 1 WHERE id = ?').bind(user.id).run()
    expect((await browser.get('/account')).status).toBe(303)
  })
})

describe('the second step page', () => {
  it('finishes a password sign-in with an authenticator code, at aal2, without JavaScript', async () => {
    const { account, secret } = await withTotp()
    const browser = new PageBrowser()
    const first = await browser.signIn(account)
    expect(first.status).toBe(303)
    expect(first.headers.get('Location')).toBe('/sign-in/second-step?return_to=%2Faccount')
    expect(browser.session()).toBeUndefined()
    const page = await (await browser.get('/sign-in/second-step?return_to=%2Faccount')).text()
    expect(page).toMatch(/<label for="code">Authentication code<\/label>/)
    expect(page).toContain('<button type="submit">Verify</button>')
    expect(page).toContain('Use a recovery code')
    // The next time step's code: the current one was spent confirming the factor.
    const done = await browser.post('/sign-in/second-step?return_to=%2Faccount', {
      code: await totpFor(secret, Date.now() + 30_000),
      return_to: '/account',
    })
    expect(done.status).toBe(303)
    expect(done.headers.get('Location')).toBe('/account')
    const row = await sessionRow(browser.session())
    expect(row?.aal).toBe('aal2')
    expect(JSON.parse(row!.amr)).toEqual(['pwd', 'otp', 'mfa'])
  })

  it('takes a recovery code instead', async () => {
    const { account, recoveryCodes } = await withTotp()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const page = await (await browser.get('/sign-in/second-step?method=recovery_code')).text()
    expect(page).toMatch(/<label for="recovery_code">Recovery code<\/label>/)
    const done = await browser.post('/sign-in/second-step', { recovery_code: recoveryCodes[0]! })
    expect(done.status).toBe(303)
    expect((await sessionRow(browser.session()))?.aal).toBe('aal2')
  })

  it('re-renders a wrong code with 401 and its words, and counts it against the step', async () => {
    const { account } = await withTotp()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const wrong = await browser.post('/sign-in/second-step', { code: '000000' })
    expect(wrong.status).toBe(401)
    expect(alertOf(await wrong.text())).toBe('The code is wrong, already used or expired.')
    expect(browser.session()).toBeUndefined()
  })

  it('without a pending step goes back to /sign-in', async () => {
    const response = await new PageBrowser().get('/sign-in/second-step')
    expect(response.status).toBe(303)
    expect(response.headers.get('Location')).toBe('/sign-in?return_to=%2Faccount')
  })
})

describe('sign-up, forgot and reset pages', () => {
  it('create an account and sign it in, with the contract’s names', async () => {
    const browser = new PageBrowser()
    const page = await (await browser.get('/sign-up')).text()
    for (const label of ['Username', 'Email', 'Password']) expect(page).toContain(`>${label}</label>`)
    expect(page).toContain('<button type="submit">Create account</button>')
    const tag = crypto.randomUUID().slice(0, 8)
    const response = await browser.post('/sign-up', {
      username: `page_${tag}`,
      email: `page.${tag}@example.com`,
      password: `copper-meadow-${tag}-kettle`,
    })
    expect(response.status).toBe(303)
    expect((await sessionRow(browser.session()))?.holder).toBe('browser')
  })

  it('re-render a taken username with 409 and keep what was typed', async () => {
    const { account } = await signup()
    const browser = new PageBrowser()
    await browser.get('/sign-up')
    const response = await browser.post('/sign-up', {
      username: account.username,
      email: 'someone.else@example.com',
      password: 'copper-meadow-kettle-drum',
    })
    expect(response.status).toBe(409)
    const html = await response.text()
    expect(alertOf(html)).toBe('That username is already in use.')
    expect(html).toContain('value="someone.else@example.com"')
  })

  it('apply the password policy on sign-up, naming the field', async () => {
    const browser = new PageBrowser()
    await browser.get('/sign-up')
    const tag = crypto.randomUUID().slice(0, 8)
    const response = await browser.post('/sign-up', { username: `page_${tag}`, email: `page.${tag}@example.com`, password: 'short' })
    expect(response.status).toBe(400)
    expect(await response.text()).toMatch(/Password must be at least 15 characters long/)
  })

  it('answer forgot-password with the same words whether or not the address has an account', async () => {
    const { account } = await signup()
    const known = new PageBrowser()
    await known.get('/forgot-password')
    const knownHtml = await (await known.post('/forgot-password', { email: account.email })).text()
    const unknown = new PageBrowser()
    await unknown.get('/forgot-password')
    const unknownHtml = await (await unknown.post('/forgot-password', { email: 'nobody.at.all@example.com' })).text()
    const notice = (html: string) => /<p class="notice" role="status">([^<]*)</.exec(html)?.[1]
    expect(notice(knownHtml)).toBeDefined()
    expect(notice(knownHtml)).toBe(notice(unknownHtml))
  })

  it('set a new password through the mailed link, whose GET spends nothing', async () => {
    const { account } = await signup()
    const rig = mailRig()
    expect((await call('/users/password/forgot', { json: { email: account.email }, env: rig.env })).status).toBe(202)
    await deliver(rig.jobs.splice(0), rig)
    const { link, token } = linkIn(rig.sent[0])
    expect(link).toBe(`http://localhost:8787/reset-password#token=${token}`)
    const browser = new PageBrowser()
    // A mail scanner (and the person) load the page: the token never leaves the fragment.
    const page = await browser.get('/reset-password')
    expect(await page.text()).toContain('<label for="new_password">New password</label>')
    await browser.get('/reset-password')
    const newPassword = `fresh-granite-${crypto.randomUUID().slice(0, 8)}-orchard`
    const done = await browser.post('/reset-password', { token, new_password: newPassword })
    expect(done.status).toBe(200)
    expect(await done.text()).toContain('Your password is set')
    await login({ username: account.username, password: newPassword })
    const again = await browser.post('/reset-password', { token, new_password: `${newPassword}-2` })
    expect(again.status).toBe(400)
    expect(alertOf(await again.text())).toBe('The link is invalid, expired, already used or replaced by a newer one.')
  })

  it('confirm an address on /verify-email with the button the contract names', async () => {
    const rig = mailRig()
    const { account } = await signup({}, { env: rig.env })
    await deliver(rig.jobs.splice(0), rig)
    const { token } = linkIn(rig.sent.find((mail) => mail.to === account.email))
    const browser = new PageBrowser()
    const page = await (await browser.get('/verify-email')).text()
    expect(page).toContain('<button type="submit">Confirm email address</button>')
    expect(page).toContain('src="/pages/link-token.js"')
    const done = await browser.post('/verify-email', { token })
    expect(done.status).toBe(200)
    const user = await env.DB.prepare('SELECT email_verified FROM users WHERE username = ?')
      .bind(account.username.toLowerCase())
      .first<{ email_verified: number }>()
    expect(user?.email_verified).toBe(1)
  })
})

describe('the account page', () => {
  it('sets up an authenticator app: current password first, then the QR code, the secret, a code, and the recovery codes once', async () => {
    const { account } = await verifiedSignedIn()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const ask = await (await browser.get('/account/authenticator-app')).text()
    expect(ask).toContain('<label for="current_password">Current password</label>')
    expect(ask).toContain('<button type="submit">Continue</button>')
    const enrol = await browser.post('/account/authenticator-app', { current_password: account.password })
    expect(enrol.status).toBe(200)
    const html = await enrol.text()
    expect(html).toMatch(/<img class="qr" src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+" alt="QR code"/)
    const secretText = /<span class="secret">([A-Z2-7]+)<\/span>/.exec(html)?.[1]
    expect(secretText).toBeDefined()
    expect(html).toContain('<button type="submit">Activate</button>')
    const { secretOf } = await import('./helpers')
    const code = await totpFor(secretOf(`otpauth://totp/x?secret=${secretText}`))
    const activated = await browser.post('/account/authenticator-app/activate', { code })
    expect(activated.status).toBe(200)
    const codes = [...(await activated.text()).matchAll(/<li>([^<]+)<\/li>/g)].map((match) => match[1])
    expect(codes).toHaveLength(10)
  })

  it('refuses to add a way in with a wrong current password, counted like a wrong login', async () => {
    const { account } = await verifiedSignedIn()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const refused = await browser.post('/account/authenticator-app', { current_password: 'not-my-password-at-all' })
    expect(refused.status).toBe(403)
    expect(alertOf(await refused.text())).toBe('The current password is incorrect.')
  })

  it('changes the password with the current one and ends the other sessions', async () => {
    const { account } = await signup()
    const other = new PageBrowser()
    await other.signIn(account)
    const browser = new PageBrowser()
    await browser.signIn(account)
    const newPassword = `bright-willow-${crypto.randomUUID().slice(0, 8)}-canal`
    const response = await browser.post('/account/password', { current_password: account.password, new_password: newPassword })
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('Your password is changed')
    expect((await other.get('/account')).status).toBe(303)
    expect((await browser.get('/account')).status).toBe(200)
  })

  it('sends a stale session to a proof page of its own before adding a way in, and back afterwards', async () => {
    const { account } = await verifiedSignedIn()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const id = browser.session()!.split('.')[0]
    await env.DB.prepare('UPDATE sessions SET auth_time = ? WHERE id = ?')
      .bind(Date.now() - 3_600_000, id)
      .run()
    const stale = await browser.post('/account/authenticator-app', { current_password: account.password })
    expect(stale.status).toBe(303)
    expect(stale.headers.get('Location')).toBe('/account/confirm?return_to=%2Faccount%2Fauthenticator-app')
    const confirm = await (await browser.get('/account/confirm?return_to=%2Faccount%2Fauthenticator-app')).text()
    expect(confirm).toContain('<label for="current_password">Current password</label>')
    const proved = await browser.post('/account/confirm', { current_password: account.password, return_to: '/account/authenticator-app' })
    expect(proved.status).toBe(303)
    expect(proved.headers.get('Location')).toBe('/account/authenticator-app')
    expect((await browser.post('/account/authenticator-app', { current_password: account.password })).status).toBe(200)
  })
})

it('serves the one stylesheet from this origin', async () => {
  const response = await call(`${ORIGIN}/pages/style.css`)
  expect(response.status).toBe(200)
  expect(response.headers.get('Content-Type')).toMatch(/text\/css/)
})

describe('passkeys on the pages', () => {
  type Options = { challenge_id: string; options: never }

  it('add one from /account (current password first), then sign in with it alone at aal2', async () => {
    const { SoftAuthenticator } = await import('./authenticator')
    const { account } = await verifiedSignedIn()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const page = await (await browser.get('/account/passkeys/new')).text()
    expect(page).toContain('<label for="current_password">Current password</label>')
    const offered = await browser.post('/account/passkeys/options', { current_password: account.password })
    expect(offered.status).toBe(200)
    const { challenge_id, options } = (await offered.json()) as Options
    const authenticator = new SoftAuthenticator()
    const made = await authenticator.register(options)
    const added = await browser.post('/account/passkeys', { challenge_id, credential: JSON.stringify(made.response) })
    expect(added.status).toBe(201)
    expect(((await added.json()) as { recovery_codes: string[] }).recovery_codes).toHaveLength(10)

    const stranger = new PageBrowser()
    await stranger.get('/sign-in')
    const signInOffer = (await (await stranger.post('/sign-in/passkey/options', {})).json()) as Options
    const assertion = await authenticator.assert(signInOffer.options, made.credential)
    const signedIn = await stranger.post('/sign-in/passkey', {
      challenge_id: signInOffer.challenge_id,
      credential: JSON.stringify(assertion),
      return_to: '/account',
    })
    expect(signedIn.status).toBe(200)
    expect(await signedIn.json()).toEqual({ location: '/account' })
    const row = await sessionRow(stranger.session())
    expect(row?.holder).toBe('browser')
    expect(row?.aal).toBe('aal2')
  })

  it('refuses a registration from another site, and a passkey options request without the current password', async () => {
    const { account } = await verifiedSignedIn()
    const browser = new PageBrowser()
    await browser.signIn(account)
    expect(
      (await browser.post('/account/passkeys/options', { current_password: account.password }, { origin: 'https://evil.example' })).status,
    ).toBe(403)
    const missing = await browser.post('/account/passkeys/options', {})
    expect(missing.status).toBe(400)
    expect(((await missing.json()) as { code: string }).code).toBe('validation_failed')
  })

  it('answers a failed assertion with the problem for the script to show, and opens no session', async () => {
    const { SoftAuthenticator } = await import('./authenticator')
    const browser = new PageBrowser()
    await browser.get('/sign-in')
    const offer = (await (await browser.post('/sign-in/passkey/options', {})).json()) as Options
    const authenticator = new SoftAuthenticator()
    const stray = await authenticator.register({
      challenge: 'AAAA',
      rp: { id: 'localhost', name: 'x' },
      user: { id: 'AAAA', name: 'x', displayName: 'x' },
      pubKeyCredParams: [{ type: 'public-key', alg: -7 }],
    } as never)
    const assertion = await authenticator.assert(offer.options, stray.credential)
    const refused = await browser.post('/sign-in/passkey', { challenge_id: offer.challenge_id, credential: JSON.stringify(assertion) })
    expect(refused.status).toBe(401)
    expect(((await refused.json()) as { detail: string }).detail).toBe('The passkey response does not verify.')
    expect(browser.session()).toBeUndefined()
  })

  it('serve the ceremony script, which aborts the pending autofill request before the explicit prompt', async () => {
    const script = await (await call(`${ORIGIN}/pages/passkeys.js`)).text()
    expect(script).toContain("signIn('conditional')")
    expect(script.indexOf('pending?.abort()')).toBeLessThan(script.indexOf("signIn('optional')"))
  })
})

describe('"Continue with" a provider on the pages', () => {
  it('refuses a provider that is not configured, on a page', async () => {
    const browser = new PageBrowser()
    await browser.get('/sign-in')
    const response = await browser.post('/sign-in/with/nowhere', {})
    expect(response.status).toBe(404)
    expect(response.headers.get('Content-Type')).toMatch(/text\/html/)
  })

  it('shows a provider’s #error= in the catalog’s words, and refuses a code without the flow’s cookie', async () => {
    const browser = new PageBrowser()
    const landing = await (await browser.get('/sign-in/provider')).text()
    expect(landing).toContain('src="/pages/provider-code.js"')
    const refused = await browser.post('/sign-in/provider', { code: '', error: 'email_not_verified' })
    expect(refused.status).toBe(400)
    expect(alertOf(await refused.text())).toBe('Confirm your email address first: follow the link in the verification mail.')
    const stray = await browser.post('/sign-in/provider', { code: 'a-code-from-somewhere-else' })
    expect(stray.status).toBe(400)
    expect(alertOf(await stray.text())).toBe('The challenge is unknown, expired or already used; start again.')
    expect(browser.session()).toBeUndefined()
  })
})

describe('connecting an account from /account', () => {
  it('asks for the current password first, and refuses a wrong one like a wrong login', async () => {
    const { account } = await verifiedSignedIn()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const ask = await (await browser.get('/account/connect/idp')).text()
    expect(ask).toContain('<label for="current_password">Current password</label>')
    const missing = await browser.post('/account/connect/idp', {})
    expect(missing.status).toBe(400)
    const wrong = await browser.post('/account/connect/idp', { current_password: 'not-my-password-at-all' })
    expect(wrong.status).toBe(403)
    expect(alertOf(await wrong.text())).toBe('The current password is incorrect.')
  })

  it('refuses a link code without the flow’s cookie, on the account page', async () => {
    const { account } = await verifiedSignedIn()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const refused = await browser.post('/account/connected', { code: 'a-link-code-from-elsewhere' })
    expect(refused.status).toBe(400)
    expect(alertOf(await refused.text())).toMatch(/^The challenge is unknown, expired or already used; start again\./)
  })
})

describe('rules from the review of the pages', () => {
  it('activating an authenticator app on a stale session first asks for a fresh proof', async () => {
    const { account } = await verifiedSignedIn()
    const browser = new PageBrowser()
    await browser.signIn(account)
    expect((await browser.post('/account/authenticator-app', { current_password: account.password })).status).toBe(200)
    await env.DB.prepare('UPDATE sessions SET auth_time = ? WHERE id = ?')
      .bind(Date.now() - 3_600_000, browser.session()!.split('.')[0])
      .run()
    const stale = await browser.post('/account/authenticator-app/activate', { code: '123456' })
    expect(stale.status).toBe(303)
    expect(stale.headers.get('Location')).toBe('/account/confirm?return_to=%2Faccount%2Fauthenticator-app')
  })

  it('answers a multipart body without its boundary with 400, not a crash', async () => {
    const browser = new PageBrowser()
    await browser.get('/sign-in')
    const response = await call(`${ORIGIN}/sign-in`, {
      method: 'POST',
      headers: {
        Origin: ORIGIN,
        Cookie: `__Host-edge-users-csrf=${browser.csrf()}`,
        'Content-Type': 'multipart/form-data',
      },
      rawBody: 'zzz',
    })
    expect(response.status).toBe(400)
    expect(response.headers.get('Content-Type')).toMatch(/text\/html/)
  })

  it('clears the flows’ cookies at sign-out, the pending second step among them', async () => {
    const { account } = await withTotp()
    const browser = new PageBrowser()
    await browser.signIn(account)
    expect(browser.cookies.has('__Host-edge-users-second-step')).toBe(true)
    await browser.post('/sign-out', {})
    expect(browser.cookies.has('__Host-edge-users-second-step')).toBe(false)
  })
})

describe('the confirm page with a passkey', () => {
  it('lets an account whose second factor is a passkey prove itself again with it, and goes back', async () => {
    const { SoftAuthenticator } = await import('./authenticator')
    const { account } = await verifiedSignedIn()
    const browser = new PageBrowser()
    await browser.signIn(account)
    const offered = (await (await browser.post('/account/passkeys/options', { current_password: account.password })).json()) as {
      challenge_id: string
      options: never
    }
    const authenticator = new SoftAuthenticator()
    const made = await authenticator.register(offered.options)
    expect(
      (await browser.post('/account/passkeys', { challenge_id: offered.challenge_id, credential: JSON.stringify(made.response) })).status,
    ).toBe(201)
    const id = browser.session()!.split('.')[0]
    await env.DB.prepare('UPDATE sessions SET auth_time = ? WHERE id = ?')
      .bind(Date.now() - 3_600_000, id)
      .run()
    const page = await (await browser.get('/account/confirm?return_to=%2Faccount%2Fauthenticator-app')).text()
    expect(page).toContain('Use a passkey')
    // A password alone cannot reach aal2 on this account: the page does not offer it.
    expect(page).not.toContain('<label for="current_password">')
    const challenge = (await (await browser.post('/account/confirm/passkey/options', {})).json()) as {
      challenge_id: string
      options: never
    }
    const assertion = await authenticator.assert(challenge.options, made.credential)
    const proved = await browser.post('/account/confirm/passkey', {
      challenge_id: challenge.challenge_id,
      credential: JSON.stringify(assertion),
      return_to: '/account/authenticator-app',
    })
    expect(proved.status).toBe(200)
    expect(await proved.json()).toEqual({ location: '/account/authenticator-app' })
    const row = await env.DB.prepare('SELECT auth_time, aal FROM sessions WHERE id = ?')
      .bind(id)
      .first<{ auth_time: number; aal: string }>()
    expect(Date.now() - row!.auth_time).toBeLessThan(60_000)
    expect(row?.aal).toBe('aal2')
  })
})
