/**
 * Chromium as the person at the authorization endpoint: a fresh profile (so no session), the
 * hosted sign-in page filled in, the consent page's Allow clicked, and the redirect back to the
 * client caught by Chromium's request interception (nothing listens at the client's redirect URI).
 */

import { axeViolations } from '../browser/hosted-pages.ts'
import type { Browser } from '../lib/chromium.ts'
import type { Person } from './accounts.ts'
import { check } from './report.ts'

export { type Browser, CHROMIUM, launchChromium } from '../lib/chromium.ts'
export type BrowserContext = Awaited<ReturnType<Browser['newContext']>>

const WAIT_MS = 20_000

export type Authorization = {
  /** The authorization request, as the client built it. */
  url: URL
  /** The client's redirect URI: where the browser is expected back, with code, state and iss. */
  redirectUri: string
  person: Person
  /** The name the consent page should show in its heading. */
  clientName: string
  /** The button the person presses on the consent page: Allow unless told. */
  answer?: 'Allow' | 'Deny'
  /** A browser profile to keep (its session cookie) across requests; without one, a fresh profile, closed after. */
  context?: BrowserContext
  /** The sign-in page must show: the profile must have no session (after a logout, say). */
  expectSignIn?: boolean
}

/** Where the page is now: the sign-in form, the consent page, or back at the client. */
async function whereIs(page: Awaited<ReturnType<Browser['newPage']>>, backAtClient: () => boolean) {
  const deadline = Date.now() + WAIT_MS
  while (Date.now() < deadline) {
    if (backAtClient()) return 'client'
    if (await page.getByLabel('Username or email').isVisible()) return 'sign-in'
    if (await page.getByRole('button', { name: 'Allow', exact: true }).isVisible()) return 'consent'
    await page.waitForTimeout(200)
  }
  return 'nowhere'
}

/**
 * Follows `authorization.url` in a fresh Chromium profile through sign-in and consent; the URL the
 * browser was sent back to. Throws, with the page Chromium was left on, when it never gets there.
 */
export async function authorizeInBrowser(browser: Browser, authorization: Authorization): Promise<URL> {
  const { url, redirectUri, person, clientName, answer = 'Allow' } = authorization
  const context = authorization.context ?? (await browser.newContext())
  const page = await context.newPage()
  const refused: string[] = []
  page.on('response', (response) => {
    if (response.status() >= 400) refused.push(`${response.request().method()} ${response.url()} → ${response.status()}`)
  })
  let callback: string | undefined
  const atClient = (target: URL) => target.href.startsWith(redirectUri)
  await context.route(atClient, async (route) => {
    callback = route.request().url()
    await route.fulfill({ contentType: 'text/html', body: '<p>the client</p>' })
  })
  const stuck = async (what: string) => {
    // The main element's text: the page's message, without the scripts a whole body's text would hold.
    const shown = await page
      .locator('main')
      .first()
      .textContent({ timeout: 1000 })
      .catch(() => null)
      .then(
        async (main) =>
          main ??
          (await page
            .locator('body')
            .textContent({ timeout: 1000 })
            .catch(() => null)),
      )
    const text = (shown ?? '').replace(/\s+/g, ' ').trim()
    return new Error(
      `${what}; Chromium is at ${page.url()}, showing: "${text.slice(0, 500)}"${refused.length ? `\nrefused: ${refused.join('; ')}` : ''}`,
    )
  }
  try {
    await page.goto(url.href)
    let where = await whereIs(page, () => callback !== undefined)
    if (where === 'sign-in') {
      const signIn = new URL(page.url())
      const returnTo = signIn.searchParams.get('return_to') ?? ''
      check(
        signIn.pathname === '/sign-in' && returnTo.startsWith('/oauth2/authorize'),
        `without a session, /oauth2/authorize sends Chromium to /sign-in with return_to=/oauth2/authorize… (${signIn.pathname}?return_to=${returnTo.slice(0, 40)}…)`,
      )
      await page.getByLabel('Username or email').fill(person.username)
      await page.getByLabel('Password', { exact: true }).fill(person.password)
      await page.getByRole('button', { name: 'Sign in', exact: true }).click()
      where = await whereIs(page, () => callback !== undefined)
      if (where === 'sign-in') throw await stuck('the hosted sign-in page did not accept the password')
    } else if (authorization.expectSignIn) throw await stuck('the sign-in page did not show: the browser still had a session')
    if (where === 'consent') {
      const heading = await page.getByRole('heading', { name: clientName }).count()
      check(heading > 0, `the consent page names the client "${clientName}" in a heading`)
      check(await page.getByRole('button', { name: 'Deny', exact: true }).isVisible(), 'the consent page offers Deny beside Allow')
      const violations = await axeViolations(page)
      check(
        violations.length === 0,
        `axe-core finds no serious or critical violation on the consent page${violations.length ? `: ${violations.join(', ')}` : ''}`,
      )
      await page.getByRole('button', { name: answer, exact: true }).click()
      const deadline = Date.now() + WAIT_MS
      while (callback === undefined && Date.now() < deadline) await page.waitForTimeout(100)
    } else if (answer === 'Deny') throw await stuck('the consent page never showed, so there was no Deny to press')
    if (callback === undefined) throw await stuck(`Chromium did not come back to ${redirectUri}`)
    return new URL(callback)
  } finally {
    if (authorization.context) {
      await context.unroute(atClient)
      await page.close()
    } else await context.close()
  }
}

/** Opens `url` in `context` and follows it until the browser is sent to `clientUrl` (played by interception); that URL. */
export async function followToClient(context: BrowserContext, url: string, clientUrl: string): Promise<URL> {
  const page = await context.newPage()
  const answers: string[] = []
  page.on('response', (response) =>
    answers.push(
      `${response.request().method()} ${response.url().slice(0, 120)} → ${response.status()} ${response.headers().location ?? ''}`,
    ),
  )
  page.on('requestfailed', (request) =>
    answers.push(`${request.method()} ${request.url().slice(0, 120)} failed: ${request.failure()?.errorText}`),
  )
  const atClient = (target: URL) => target.href.startsWith(clientUrl)
  let reached: string | undefined
  await context.route(atClient, async (route) => {
    reached = route.request().url()
    await route.fulfill({ contentType: 'text/html', body: '<p>the client</p>' })
  })
  try {
    // What counts is the URL the browser was sent to, which the route saw: Chromium may still report
    // the redirect's load as refused (nothing listens at the client), which is no failure here.
    await page.goto(url).catch((error: Error) => answers.push(error.message.split('\n')[0]!.slice(0, 200)))
    const deadline = Date.now() + WAIT_MS
    while (reached === undefined && Date.now() < deadline) await page.waitForTimeout(100)
    if (reached === undefined) {
      const shown = await page
        .locator('main')
        .first()
        .textContent({ timeout: 1000 })
        .catch(() => null)
      throw new Error(
        `Chromium was not sent to ${clientUrl}; it is at ${page.url().slice(0, 120)}, showing: "${(shown ?? '').replace(/\s+/g, ' ').trim().slice(0, 500)}"\n${answers.join('\n')}`,
      )
    }
    return new URL(reached)
  } finally {
    await context.unroute(atClient)
    await page.close()
  }
}
