/**
 * `npm run browser:check`: opens the API reference in a real browser (Debian's Chromium, driven by
 * playwright-core) against a fresh `npm run dev`, and checks what a new user would do there: every
 * operation is on the page, "try it" on hello answers 200, a token from login put in Authorize makes
 * GET /users/me answer 200 from the page, and the console shows no error (a CSP violation included).
 * Then a TOTP enrolment as an authenticator app sees it: the QR code Chromium draws is read back
 * by zbarimg, and oathtool's code for the scanned secret activates the factor. Last, passkeys with
 * Chromium's virtual authenticator (DevTools Protocol WebAuthn domain: CTAP2, internal transport,
 * resident keys, user verification) on a page of the API's own origin: a passkey is registered,
 * signs in without a password, and completes a password login's second step. And sign-in with an
 * OpenID provider: panva's oidc-provider on a local port, its login screen filled in by Chromium,
 * back through our callback to the app's page with a one-time code the app exchanges.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Page } from 'playwright-core'
import { checkHostedPages } from './browser/hosted-pages.ts'
import { VIRTUAL_AUTHENTICATOR } from './browser/virtual-authenticator.ts'
import { type Browser, CHROMIUM, launchChromium } from './lib/chromium.ts'
import { type DevServer, freePort, scratchCopy, startDevServer } from './lib/dev-server.ts'
import { IDP_CLIENT_ID, IDP_CLIENT_SECRET, type IdentityProvider, startIdentityProvider } from './lib/identity-provider.ts'

if (!existsSync(CHROMIUM)) {
  console.error(`No Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH).`)
  process.exit(2)
}

const dir = scratchCopy()

/** Every mail text wrangler dev has written for the server in the scratch copy, as file paths. */
function mailFiles(): string[] {
  const root = join(dir, '.wrangler/tmp/email')
  if (!existsSync(root)) return []
  return readdirSync(root).flatMap((id) => {
    const texts = join(root, id, 'email-text')
    return existsSync(texts) ? readdirSync(texts).map((name) => join(texts, name)) : []
  })
}

/**
 * Signs an account up and proves its address the way a person does, with the link of the mail
 * the dev server wrote (adding a way in needs a verified address), then logs in.
 */
async function verifiedAccount(base: string, account: { username: string; email: string; password: string }) {
  const post = (path: string, body: unknown) =>
    fetch(`${base}/api/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const seen = new Set(mailFiles())
  await post('/users/signup', account)
  let token: string | undefined
  for (let i = 0; i < 60 && !token; i++) {
    const fresh = mailFiles()
      .filter((file) => !seen.has(file))
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    token = fresh.map((file) => /verify-email#token=([A-Za-z0-9_-]+)/.exec(readFileSync(file, 'utf8'))?.[1]).find(Boolean)
    if (!token) await new Promise((resolve) => setTimeout(resolve, 250))
  }
  const verified = await post('/users/email/verify', { token })
  check(verified.status === 200, `${account.username} verifies the address with the signup mail's link (${verified.status})`)
  return (await (await post('/users/login', account)).json()) as { access_token: string }
}
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

const spentTokens = new Set<string>()
/** The token of the newest mail written after `since` (ms) whose link goes to `path` and that no check took yet, waiting up to 15 s. */
async function mailToken(path: string, since: number): Promise<string> {
  const pattern = new RegExp(`${path}#token=([A-Za-z0-9_-]+)`)
  for (let i = 0; i < 60; i++) {
    const files = mailFiles()
      .filter((file) => statSync(file).mtimeMs >= since)
      .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)
    const token = files.map((file) => pattern.exec(readFileSync(file, 'utf8'))?.[1]).find((found) => found && !spentTokens.has(found))
    if (token) {
      spentTokens.add(token)
      return token
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`no mail with a ${path} link arrived`)
}

let failures = 0
const check = (ok: boolean, what: string) => {
  if (!ok) failures++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
}

/** The operation block of a method and path, as Swagger UI renders it. */
const operation = (page: Page, method: string, path: string) =>
  page.locator(`.opblock.opblock-${method}`).filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) })

async function tryIt(page: Page, method: string, path: string): Promise<string> {
  const block = operation(page, method, path)
  await block.locator('.opblock-summary').click()
  await block.locator('button.try-out__btn').click()
  await block.locator('button.execute').click()
  const status = block.locator('.live-responses-table .response .response-col_status').first()
  await status.waitFor({ timeout: 15_000 })
  return ((await status.textContent()) ?? '').trim()
}

type Answer = { status: number; body: Record<string, unknown> }

/**
 * Runs one WebAuthn ceremony in the page, as a front end would: the options from `optionsPath`
 * (POST, with `optionsBody`) through PublicKeyCredential.parse…FromJSON, the authenticator's
 * answer through toJSON(), posted to `answerPath` with `answerFields`.
 */
async function ceremony(
  page: Page,
  input: {
    kind: 'create' | 'get'
    token?: string
    optionsPath: string
    optionsBody?: unknown
    answerPath: string
    answerFields: Record<string, unknown>
    answerKey: string
  },
): Promise<Answer> {
  return page.evaluate(async (input) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (input.token) headers.authorization = `Bearer ${input.token}`
    const offered = await fetch(`/api/v1${input.optionsPath}`, { method: 'POST', headers, body: JSON.stringify(input.optionsBody ?? {}) })
    const { challenge_id, options } = (await offered.json()) as { challenge_id: string; options: unknown }
    // The page's own WebAuthn API (the scripts are typed without the DOM library).
    const web = globalThis as unknown as {
      navigator: { credentials: Record<'create' | 'get', (options: { publicKey: unknown }) => Promise<{ toJSON(): unknown }>> }
      PublicKeyCredential: Record<'parseCreationOptionsFromJSON' | 'parseRequestOptionsFromJSON', (options: unknown) => unknown>
    }
    const publicKey =
      input.kind === 'create'
        ? web.PublicKeyCredential.parseCreationOptionsFromJSON(options)
        : web.PublicKeyCredential.parseRequestOptionsFromJSON(options)
    const json = (await web.navigator.credentials[input.kind]({ publicKey })).toJSON()
    const answered = await fetch(`/api/v1${input.answerPath}`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ ...input.answerFields, challenge_id, [input.answerKey]: json }),
    })
    return { status: answered.status, body: await answered.json() }
  }, input)
}

const claimsOf = (token: unknown) =>
  JSON.parse(Buffer.from(String(token).split('.')[1] ?? '', 'base64url').toString()) as { aal: string; amr: string[] }

async function checkPasskeys(browser: Browser, base: string) {
  const page = await browser.newPage()
  // The API reference: a page of the API's own origin whose policy lets it call the API.
  await page.goto(`${base}/api/v1/docs`)
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  await cdp.send('WebAuthn.addVirtualAuthenticator', VIRTUAL_AUTHENTICATOR)
  const account = { username: 'passkey_check', email: 'passkey@example.com', password: 'amber-orchard-keys-2026' }
  const post = (path: string, body: unknown) =>
    fetch(`${base}/api/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const { access_token } = await verifiedAccount(base, account)

  const registered = await ceremony(page, {
    kind: 'create',
    token: access_token,
    optionsPath: '/users/me/passkeys/options',
    optionsBody: { password: account.password },
    answerPath: '/users/me/passkeys',
    answerFields: { name: 'Chromium' },
    answerKey: 'credential',
  })
  const codes = (registered.body.recovery_codes as unknown[] | undefined)?.length ?? 0
  check(
    registered.status === 201 && codes === 10,
    `Chromium's virtual authenticator registers a passkey (${registered.status}, ${codes} recovery codes)`,
  )

  const passwordless = await ceremony(page, {
    kind: 'get',
    optionsPath: '/users/passkeys/login/options',
    answerPath: '/users/passkeys/login',
    answerFields: {},
    answerKey: 'credential',
  })
  const signedIn = passwordless.status === 200 ? claimsOf(passwordless.body.access_token) : undefined
  check(
    signedIn?.aal === 'aal2' && signedIn.amr.join(' ') === 'hwk mfa',
    `the passkey signs in without a password, at aal2 with amr hwk mfa (${passwordless.status}${signedIn ? `, ${signedIn.aal} ${signedIn.amr.join(' ')}` : ''})`,
  )

  const step = (await (await post('/users/login', account)).json()) as { code?: string; mfa_token?: string; methods?: string[] }
  check(
    step.code === 'mfa_required' && (step.methods ?? []).includes('passkey'),
    `a password login now asks for a second step offering passkey (${step.code})`,
  )
  const second = await ceremony(page, {
    kind: 'get',
    optionsPath: '/users/login/mfa/passkey-options',
    optionsBody: { mfa_token: step.mfa_token },
    answerPath: '/users/login/mfa',
    answerFields: { mfa_token: step.mfa_token },
    answerKey: 'passkey',
  })
  const finished = second.status === 200 ? claimsOf(second.body.access_token) : undefined
  check(
    finished?.amr.join(' ') === 'pwd hwk mfa',
    `the passkey completes the password login's second step, amr pwd hwk mfa (${second.status}${finished ? `, ${finished.amr.join(' ')}` : ''})`,
  )
  await page.close()
}

/** The client application's page (APP_URL), played by Chromium's request interception: it only shows its URL. */
const APP_URL = 'http://localhost:5173'

async function checkProviderSignIn(browser: Browser, base: string, login: string) {
  const page = await browser.newPage()
  await page.route(`${APP_URL}/**`, (route) => route.fulfill({ contentType: 'text/html', body: '<p>the app</p>' }))
  const verifier = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
  const challenge = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))).toString('base64url')
  const query = new URLSearchParams({ redirect_uri: `${APP_URL}/signed-in`, code_challenge: challenge, code_challenge_method: 'S256' })
  await page.goto(`${base}/api/v1/oauth/idp/authorize?${query}`)
  // The provider's own screens: its login form, then (first time) its consent.
  await page.locator('input[name="login"]').fill(login)
  await page.locator('input[name="password"]').fill('any password')
  await page.locator('button[type="submit"]').click()
  await page.waitForURL((url) => url.href.startsWith(APP_URL) || url.pathname.startsWith('/interaction/'), { timeout: 15_000 })
  if (!page.url().startsWith(APP_URL)) {
    await page.locator('button[type="submit"]').click()
    await page.waitForURL((url) => url.href.startsWith(APP_URL), { timeout: 15_000 })
  }
  const fragment = new URLSearchParams(new URL(page.url()).hash.slice(1))
  if (login.startsWith('unverified')) {
    // A provider that does not vouch for the address gets no account, and nothing is written.
    check(
      fragment.get('error') === 'email_not_verified' && !fragment.has('code'),
      `signing in at the local OpenID provider as ${login}, an address it does not vouch for, ends in #error=email_not_verified (${fragment})`,
    )
    await page.close()
    return
  }
  const exchanged = await fetch(`${base}/api/v1/users/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: fragment.get('code'), code_verifier: verifier }),
  })
  const pair = (await exchanged.json()) as { access_token?: string; user?: { email: string; email_verified: boolean } }
  const claims = pair.access_token ? claimsOf(pair.access_token) : undefined
  check(
    exchanged.status === 200 && claims?.amr.join(' ') === 'fed' && pair.user?.email_verified === true,
    `signing in at the local OpenID provider as ${login} in Chromium gives an account (${exchanged.status}, ${pair.user?.email ?? fragment.get('error')}, verified: ${pair.user?.email_verified})`,
  )
  await page.close()
}

let idp: IdentityProvider | undefined
let server: DevServer | undefined
const browser = await launchChromium()
try {
  // The passkey origin is this server's own (WEBAUTHN_RP_ID stays localhost, its default), and a
  // local OpenID provider that redirects back to it.
  const port = await freePort()
  idp = await startIdentityProvider([`http://localhost:${port}/api/v1/oauth/idp/callback`])
  const providers = JSON.stringify([{ id: 'idp', type: 'oidc', issuer: idp.issuer, client_id: IDP_CLIENT_ID, name: 'Local IdP' }])
  server = await startDevServer(
    dir,
    [
      // A team with a front end of its own: mails and provider sign-ins go back to it.
      '--var',
      `APP_URL:${APP_URL}`,
      '--var',
      `WEBAUTHN_ORIGINS:http://localhost:${port}`,
      '--var',
      `OAUTH_PROVIDERS:${providers}`,
      '--var',
      `OAUTH_CLIENT_SECRETS:${JSON.stringify({ idp: IDP_CLIENT_SECRET })}`,
      // One address stands for every person of the walk (sign-ups, resets, invitations, with and
      // without JavaScript): at the default 30 a minute, a fast machine met the budget mid-walk.
      '--var',
      'RATE_LIMIT_PER_IP_PER_MINUTE:1000',
    ],
    port,
  )
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  page.on('response', (response) => {
    // What "try it" asks on purpose is judged by its own check; anything else failing is an error.
    if (response.status() >= 400 && !response.url().includes('/api/v1/users/')) errors.push(`${response.status()} ${response.url()}`)
  })

  await page.goto(`${server.base}/api/v1/docs`)
  await page.locator('.opblock').first().waitFor({ timeout: 30_000 })
  const spec = (await (await fetch(`${server.base}/api/v1/openapi.json`)).json()) as { paths: Record<string, object> }
  const expected = Object.values(spec.paths).reduce((sum, operations) => sum + Object.keys(operations).length, 0)
  const shown = await page.locator('.opblock').count()
  check(shown === expected, `the page shows every operation (${shown} of ${expected})`)

  check((await tryIt(page, 'get', '/api/v1/hello')) === '200', '"try it" on GET /api/v1/hello answers 200')

  const account = { username: 'browser_check', email: 'browser@example.com', password: 'quiet-harbour-lights-2026' }
  const { access_token } = await verifiedAccount(server.base, account)
  await page.locator('.auth-wrapper .authorize').click()
  await page.locator('.auth-container input').first().fill(access_token)
  await page.locator('.auth-btn-wrapper .authorize').click()
  await page.locator('.auth-btn-wrapper .btn-done').click()
  check(
    (await tryIt(page, 'get', '/api/v1/users/me')) === '200',
    'with the token from login in Authorize, GET /api/v1/users/me answers 200',
  )

  check(errors.length === 0, `the console shows no error${errors.length ? `:\n  ${errors.join('\n  ')}` : ''}`)

  // The enrolment's QR code, drawn by Chromium and read back by zbarimg as a phone's camera would,
  // then a code from Debian's oathtool for the secret the picture holds activates the factor.
  const auth = { authorization: `Bearer ${access_token}` }
  const enrolment = (await (
    await fetch(`${server.base}/api/v1/users/me/mfa/totp`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ password: account.password }),
    })
  ).json()) as {
    otpauth_uri: string
    qr_svg: string
  }
  const qrPage = await browser.newPage()
  await qrPage.setContent(`<body style="margin:0;background:#fff"><div style="width:400px">${enrolment.qr_svg}</div></body>`)
  await qrPage.locator('svg').evaluate((svg) => {
    svg.setAttribute('width', '400')
    svg.setAttribute('height', '400')
  })
  const picture = join(dir, 'totp-qr.png')
  await qrPage.locator('svg').screenshot({ path: picture })
  const scanned = spawnSync('zbarimg', ['--quiet', '--raw', picture], { encoding: 'utf8' })
  const read = scanned.stdout.trim()
  check(
    read === enrolment.otpauth_uri,
    `zbarimg reads the enrolment's QR code as its otpauth URI${read === enrolment.otpauth_uri ? '' : ` (read: ${read || scanned.stderr.trim()})`}`,
  )
  const secret = new URL(read || 'otpauth://x').searchParams.get('secret') ?? ''
  const code = spawnSync('oathtool', ['--totp', '-b', secret], { encoding: 'utf8' }).stdout.trim()
  const confirmed = await fetch(`${server.base}/api/v1/users/me/mfa/totp/confirm`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ code }),
  })
  check(confirmed.status === 200, `a code oathtool computes from the scanned secret activates the factor (${confirmed.status})`)
  await checkPasskeys(browser, server.base)
  await checkProviderSignIn(browser, server.base, 'ada')
  await checkProviderSignIn(browser, server.base, 'unverified-grace')
  // The hosted pages; with --screenshots, the README's pictures of /sign-in and /account land in docs/.
  const screenshots = process.argv.includes('--screenshots') ? resolve('docs') : undefined
  await checkHostedPages({
    browser,
    base: server.base,
    scratch: dir,
    screenshots,
    check,
    mailToken,
    provider: { name: 'Local IdP', login: 'ada' },
  })
  // SCREENSHOT=file.png keeps a picture of the page as the check left it.
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: false })
} catch (error) {
  failures++
  console.log(`FAIL ${(error as Error).message}`)
} finally {
  await browser.close()
  server?.stop()
  await idp?.stop()
}
console.log(failures === 0 ? '\nThe API reference works in Chromium.' : `\n${failures} browser check(s) failed.`)
process.exit(failures === 0 ? 0 : 1)
