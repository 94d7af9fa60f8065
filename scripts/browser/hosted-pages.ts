/**
 * The hosted pages in Chromium, as people use them: every flow walked with the mouse and the
 * keyboard, the ones the contract says work without JavaScript walked again with it off, passkeys
 * through Chromium's virtual authenticator (autofill pending, then the explicit button), the
 * authenticator app from the QR code the page draws (read back by zbarimg, codes from oathtool),
 * and axe-core run on every page (no serious or critical violation allowed).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { VIRTUAL_AUTHENTICATOR } from './virtual-authenticator.ts'

export type PagesCheck = {
  browser: Browser
  base: string
  /** Where pictures go (scratch), and where the README's screenshots go when asked for. */
  scratch: string
  screenshots: string | undefined
  check: (ok: boolean, what: string) => void
  /** The token of the newest mail written since `since` (ms) with a link to `path` (`verify-email`, `reset-password`), waiting for it. */
  mailToken: (path: string, since: number) => Promise<string>
  /** A configured provider (its display name) and a login its screens accept, for "Continue with". */
  provider?: { name: string; login: string }
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

/** axe-core's serious and critical violations on the page as it is now. */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axeSource)
  const results = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (context: unknown, options: unknown) => Promise<unknown> } }).axe
    return axe.run((globalThis as unknown as { document: unknown }).document, { resultTypes: ['violations'] })
  })
  const violations = (results as { violations: { id: string; impact: string; nodes: unknown[] }[] }).violations
  return violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id} (${violation.impact})`)
}

/** What a form's page said after its POST: its role="status" notice or its role="alert" refusal. */
async function outcomeOf(page: Page): Promise<string> {
  const said = page.locator('[role="status"]:not(:empty), [role="alert"]').first()
  await said.waitFor()
  return ((await said.textContent()) ?? '').trim()
}

const oathtool = (secret: string, offset = '') =>
  spawnSync('oathtool', ['--totp', '-b', ...(offset ? ['-N', offset] : []), secret], { encoding: 'utf8' }).stdout.trim()

export async function checkHostedPages(input: PagesCheck): Promise<void> {
  const { browser, base, check } = input
  const audited = new Set<string>()
  const audit = async (page: Page, name: string) => {
    const found = await axeViolations(page)
    audited.add(name)
    check(found.length === 0, `axe-core finds no serious or critical violation on ${name}${found.length ? `: ${found.join(', ')}` : ''}`)
  }
  const tag = Date.now().toString(36)
  const person = { username: `pages_${tag}`, email: `pages.${tag}@example.com`, password: 'lantern-meadow-copper-2026' }

  // With JavaScript, and the virtual authenticator a passkey needs.
  const context = await browser.newContext()
  const errors: string[] = []
  const page = await context.newPage()
  page.on('console', (message) => {
    // Ours only: the provider's own screens (another origin) may log what they like.
    if (message.type() === 'error' && message.location().url.startsWith(base)) errors.push(`${message.text()} (${message.location().url})`)
  })
  page.on('pageerror', (error) => errors.push(error.message))
  // A person who has not picked a passkey from the username field's autofill yet: the conditional
  // request stays pending (the virtual authenticator would otherwise answer it at once) until the
  // page aborts it; every other request goes to the virtual authenticator. The order of calls and
  // aborts is kept, and an explicit request made while a conditional one is still pending fails as
  // Chromium fails it ("A request is already pending").
  await context.addInitScript(() => {
    const credentials = (
      globalThis as unknown as {
        navigator: { credentials: { get: (options: { mediation?: string; signal?: AbortSignal }) => Promise<unknown> } }
      }
    ).navigator.credentials
    const realGet = credentials.get.bind(credentials)
    const order: string[] = []
    let pending = false
    ;(globalThis as unknown as { __webauthnOrder: string[] }).__webauthnOrder = order
    credentials.get = (options) => {
      if (options.mediation === 'conditional') {
        order.push('conditional')
        pending = true
        return new Promise((_, reject) => {
          options.signal?.addEventListener('abort', () => {
            order.push('aborted')
            pending = false
            reject(new DOMException('aborted', 'AbortError'))
          })
        })
      }
      order.push('explicit')
      if (pending) return Promise.reject(new DOMException('A request is already pending.', 'NotAllowedError'))
      return realGet(options)
    }
  })
  const cdp = await context.newCDPSession(page)
  await cdp.send('WebAuthn.enable')
  await cdp.send('WebAuthn.addVirtualAuthenticator', VIRTUAL_AUTHENTICATOR)

  // Sign-up by keyboard alone: the username field has focus, Tab moves on, Enter sends.
  const signedUpAt = Date.now()
  await page.goto(`${base}/sign-up`)
  await audit(page, '/sign-up')
  await page.keyboard.type(person.username)
  await page.keyboard.press('Tab')
  await page.keyboard.type(person.email)
  await page.keyboard.press('Tab')
  await page.keyboard.type(person.password)
  await page.keyboard.press('Enter')
  await page.waitForURL(`${base}/account`)
  check(true, 'a person signs up on /sign-up by keyboard alone and lands on /account, signed in')
  await audit(page, '/account')
  for (const heading of ['Profile', 'Password', 'Sessions', 'Authenticator app', 'Passkeys', 'Connected accounts', 'Apps with access'])
    check((await page.getByRole('heading', { name: heading }).count()) === 1, `/account has the heading ${heading}`)

  // The verification mail's link: the token rides in the fragment, the button spends it.
  const verifyToken = await input.mailToken('verify-email', signedUpAt)
  await page.goto(`${base}/verify-email#token=${verifyToken}`)
  await audit(page, '/verify-email')
  await page.getByRole('button', { name: 'Confirm email address' }).click()
  const verified = await outcomeOf(page)
  check(verified.includes('is confirmed'), `/verify-email confirms the address with the mailed token (${verified})`)

  // An address's first proof ends every session (db/first-proof.ts): sign in again, back to /account.
  await page.goto(`${base}/account`)
  await page.waitForURL((url) => url.pathname === '/sign-in')
  await page.getByLabel('Username or email').fill(person.email)
  await page.getByLabel('Password').fill(person.password)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.waitForURL(`${base}/account`)
  check(true, 'after the first proof of the address, signing in with the email and password comes back to /account')

  await acceptInvitation(input, person, audit)

  // The authenticator app, from the QR code the page shows.
  await page.getByRole('button', { name: 'Set up authenticator app' }).click()
  await audit(page, '/account/authenticator-app')
  await page.getByLabel('Current password').fill(person.password)
  await page.getByRole('button', { name: 'Continue' }).click()
  const qr = page.getByRole('img', { name: 'QR code' })
  await qr.waitFor()
  await audit(page, 'the authenticator app enrolment page')
  const picture = join(input.scratch, 'page-qr.png')
  await qr.screenshot({ path: picture })
  const uri = spawnSync('zbarimg', ['--quiet', '--raw', picture], { encoding: 'utf8' }).stdout.trim()
  const secret = URL.canParse(uri) ? (new URL(uri).searchParams.get('secret') ?? '') : ''
  const shown = (await page.locator('.secret').textContent())?.trim()
  check(
    secret !== '' && secret === shown,
    `zbarimg reads the page's QR code, and it holds the secret the page shows as text (${uri ? 'read' : 'unreadable'})`,
  )
  await page.getByLabel('Authentication code').fill(oathtool(secret))
  await page.getByRole('button', { name: 'Activate' }).click()
  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor()
  await audit(page, 'the recovery codes page')
  const codes = (await page.locator('ol.codes li').allTextContents()).map((code) => code.trim())
  check(codes.length === 10, `activating the app shows ten recovery codes once (${codes.length})`)

  // A passkey, added on its page after the current password.
  await page.goto(`${base}/account`)
  await page.getByRole('button', { name: 'Add a passkey' }).click()
  await audit(page, '/account/passkeys/new')
  await page.getByLabel('Current password').fill(person.password)
  await page.getByRole('button', { name: 'Continue' }).click()
  await page.waitForURL(`${base}/account`)
  check(
    (await page.locator('ul.items li', { hasText: 'Passkey 1' }).count()) === 1,
    "Chromium's virtual authenticator adds a passkey from /account/passkeys/new",
  )

  // Sign out by keyboard: the first control of /account.
  await page.keyboard.press('Tab')
  await page.keyboard.press('Enter')
  await page.waitForURL(`${base}/sign-in`)
  check(true, 'Sign out, reached and pressed by keyboard, ends the session and lands on /sign-in')
  await audit(page, '/sign-in')
  if (input.screenshots) await page.screenshot({ path: join(input.screenshots, 'sign-in.png') })

  // The explicit passkey button, while the username field's autofill request is pending. The
  // script must abort that request before it asks again (a browser runs one at a time).
  await page.waitForFunction(() => (globalThis as unknown as { __webauthnOrder: string[] }).__webauthnOrder.length > 0)
  const order = await page.evaluate(() => (globalThis as unknown as { __webauthnOrder: string[] }).__webauthnOrder)
  check(order.join(' ') === 'conditional', `/sign-in starts a passkey autofill request on load (${order.join(' ') || 'none'})`)
  await page.getByRole('button', { name: 'Sign in with a passkey' }).click()
  const passkeyOutcome = await Promise.race([
    page.waitForURL(`${base}/account`).then(() => 'signed in'),
    page
      .getByRole('alert')
      .waitFor()
      .then(async () => `alert: ${await page.getByRole('alert').textContent()}`),
  ])
  check(
    passkeyOutcome === 'signed in',
    `"Sign in with a passkey" aborts the pending autofill request, then signs in with the passkey alone (${passkeyOutcome})`,
  )

  if (input.screenshots) await page.screenshot({ path: join(input.screenshots, 'account.png'), fullPage: true })
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(`${base}/sign-in`)

  // Password, then the code, by keyboard alone.
  await page.keyboard.type(person.username)
  await page.keyboard.press('Tab')
  await page.keyboard.type(person.password)
  await page.keyboard.press('Enter')
  await page.waitForURL((url) => url.pathname === '/sign-in/second-step')
  await audit(page, '/sign-in/second-step')
  await page.keyboard.type(oathtool(secret, 'now + 30 seconds'))
  await page.keyboard.press('Enter')
  await page.waitForURL(`${base}/account`)
  check(true, 'a password and an authenticator code, typed by keyboard alone, sign in through /sign-in/second-step')

  // Connecting the provider's account from /account: the current password, the provider's own
  // screens, then back to /account/connected, whose script completes the link.
  if (input.provider) {
    await page.getByRole('button', { name: `Connect ${input.provider.name}` }).click()
    await audit(page, 'the connect page')
    await page.getByLabel('Current password').fill(person.password)
    await page.getByRole('button', { name: 'Continue' }).click()
    await page.locator('input[name="login"]').fill(`linked-${tag}`)
    await page.locator('input[name="password"]').fill('any password')
    await page.locator('button[type="submit"]').click()
    await page.waitForURL((url) => url.origin === base || url.pathname.startsWith('/interaction/'), { timeout: 15_000 })
    if (new URL(page.url()).origin !== base) await page.locator('button[type="submit"]').click()
    const connected = await outcomeOf(page)
    check(
      connected.includes('The account is connected'),
      `"Connect ${input.provider.name}" links the provider's account from /account (${connected})`,
    )
  }
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(`${base}/sign-in`)

  // Forgot and reset.
  await page.getByRole('link', { name: 'Forgot your password?' }).click()
  await audit(page, '/forgot-password')
  const askedAt = Date.now()
  await page.getByLabel('Email').fill(person.email)
  await page.getByRole('button', { name: 'Send reset link' }).click()
  await page.getByRole('status').or(page.getByRole('alert')).first().waitFor()
  const refused = await page
    .getByRole('alert')
    .textContent({ timeout: 100 })
    .catch(() => null)
  check(refused === null, `/forgot-password answers with its notice${refused ? ` (refused: ${refused.trim()})` : ''}`)
  const resetToken = await input.mailToken('reset-password', askedAt)
  await page.goto(`${base}/reset-password#token=${resetToken}`)
  await audit(page, '/reset-password')
  const newPassword = 'harbour-violet-kettle-2027'
  await page.getByLabel('New password').fill(newPassword)
  await page.getByRole('button', { name: 'Set new password' }).click()
  const reset = await outcomeOf(page)
  check(reset.includes('Your password is set'), `/reset-password sets a new password with the mailed token (${reset})`)
  await page.goto(`${base}/revert-email`)
  await audit(page, '/revert-email')

  // "Continue with" the local OpenID provider: its own login screen, then back through our
  // callback to /sign-in/provider, whose script hands the code to the page's exchange.
  // (A browser of its own: this one holds a provider session for the account linked above.)
  if (input.provider) {
    const fresh = await browser.newContext()
    const other = await fresh.newPage()
    await other.goto(`${base}/sign-in`)
    await other.getByRole('button', { name: `Continue with ${input.provider.name}` }).click()
    await other.locator('input[name="login"]').fill(input.provider.login)
    await other.locator('input[name="password"]').fill('any password')
    await other.locator('button[type="submit"]').click()
    await other.waitForURL((url) => url.origin === base || url.pathname.startsWith('/interaction/'), { timeout: 15_000 })
    if (new URL(other.url()).origin !== base) await other.locator('button[type="submit"]').click()
    await other.waitForURL(`${base}/account`, { timeout: 15_000 })
    check(true, `"Continue with ${input.provider.name}" signs in through the provider's own screens and lands on /account`)
    await fresh.close()
  }
  check(
    errors.length === 0,
    `the pages log no console error (a CSP violation included)${errors.length ? `:\n  ${errors.join('\n  ')}` : ''}`,
  )
  await context.close()

  await withoutJavaScript(input, { ...person, password: newPassword }, codes[0] ?? '')
  check(audited.size >= 14, `axe-core ran on ${audited.size} pages`)
}

/** Sign-up, sign-in, the second step with a recovery code, forgot-password and sign-out, with JavaScript off. */
/**
 * An invitation to an organization, accepted where its mail's link leads: a browser signed out,
 * sent to /sign-in by the page and back (the tab keeps the fragment's token meanwhile), the
 * invitation shown, and Accept invitation pressed by keyboard.
 */
async function acceptInvitation(
  input: PagesCheck,
  person: { username: string; password: string; email: string },
  audit: (page: Page, name: string) => Promise<void>,
) {
  const { base, check } = input
  const api = async (path: string, body: unknown, token?: string) => {
    const response = await fetch(`${base}/api/v1${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    })
    return { status: response.status, json: (await response.json().catch(() => ({}))) as Record<string, unknown> }
  }
  const owner = { username: `${person.username}_owner`, email: `owner.${person.email}`, password: person.password }
  await api('/users/signup', owner)
  const { access_token: ownerToken } = (await api('/users/login', owner)).json as { access_token: string }
  const slug = `acme-${person.username.replaceAll('_', '-')}`.slice(0, 48)
  check(
    (await api('/orgs', { slug, name: 'Acme Analytics' }, ownerToken)).status === 201,
    'an owner creates the organization Acme Analytics',
  )
  const invitedAt = Date.now()
  const invited = await api(`/orgs/${slug}/invitations`, { email: person.email, roles: ['admin'] }, ownerToken)
  check(invited.status === 201, `the owner invites ${person.email} as admin (${invited.status})`)
  const token = await input.mailToken('accept-invitation', invitedAt)

  const context = await input.browser.newContext()
  const page = await context.newPage()
  await page.goto(`${base}/accept-invitation#token=${token}`)
  await audit(page, '/accept-invitation (signed out)')
  await page.getByRole('link', { name: 'Sign in' }).click()
  await page.getByLabel('Username or email').fill(person.username)
  await page.getByLabel('Password').fill(person.password)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  const accept = page.getByRole('button', { name: 'Accept invitation' })
  await accept.waitFor()
  check(
    (await page.getByText('You are invited to Acme Analytics, as admin.').count()) === 1,
    'back from /sign-in, /accept-invitation shows the organization and the roles offered',
  )
  await audit(page, '/accept-invitation (the offer)')
  await accept.focus()
  await page.keyboard.press('Enter')
  const outcome = await outcomeOf(page)
  check(
    outcome.includes('You are now a member of Acme Analytics'),
    `Accept invitation, pressed by keyboard, makes the invitee a member (${outcome})`,
  )
  const kept = await page.evaluate(() =>
    (globalThis as unknown as { sessionStorage: { getItem: (key: string) => string | null } }).sessionStorage.getItem(
      'edge-users-invitation',
    ),
  )
  check(kept === null, 'once the invitation is accepted, the tab no longer keeps its token')
  await context.close()
}

async function withoutJavaScript(input: PagesCheck, person: { username: string; password: string; email: string }, recoveryCode: string) {
  const { browser, base, check } = input
  const context: BrowserContext = await browser.newContext({ javaScriptEnabled: false })
  const page = await context.newPage()
  const tag = `${Date.now().toString(36)}n`
  await page.goto(`${base}/sign-up`)
  await page.getByLabel('Username').fill(`nojs_${tag}`)
  await page.getByLabel('Email').fill(`nojs.${tag}@example.com`)
  await page.getByLabel('Password').fill('quiet-lantern-willow-2026')
  await page.getByRole('button', { name: 'Create account' }).click()
  await page.waitForURL(`${base}/account`)
  check(true, 'without JavaScript: sign-up lands on /account, signed in')
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(`${base}/sign-in`)
  check(true, 'without JavaScript: Sign out ends the session')

  await page.getByLabel('Username or email').fill(person.username)
  await page.getByLabel('Password').fill('not the password at all')
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  const alert = await page.getByRole('alert').textContent()
  check(
    alert?.trim() === 'The username or password is incorrect.',
    `without JavaScript: a wrong password is re-rendered with the problem's words in role="alert" (${alert?.trim()})`,
  )
  await page.getByLabel('Username or email').fill(person.username)
  await page.getByLabel('Password').fill(person.password)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.waitForURL((url) => url.pathname === '/sign-in/second-step')
  await page.getByRole('link', { name: 'Use a recovery code' }).click()
  await page.getByLabel('Recovery code').fill(recoveryCode)
  await page.getByRole('button', { name: 'Verify' }).click()
  await page.waitForURL(`${base}/account`)
  check(true, 'without JavaScript: a password and a recovery code sign in through the second step')
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.waitForURL(`${base}/sign-in`)

  await page.goto(`${base}/forgot-password`)
  await page.getByLabel('Email').fill(person.email)
  await page.getByRole('button', { name: 'Send reset link' }).click()
  // A form POST without JavaScript is a navigation: wait for the answer's page, not the form's.
  const notice = await page
    .getByRole('status')
    .textContent({ timeout: 15_000 })
    .catch(() => null)
  check(notice !== null && notice.trim() !== '', `without JavaScript: forgot-password answers with its notice (${notice?.trim()})`)
  await context.close()
}
