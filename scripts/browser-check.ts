/**
 * `npm run browser:check`: opens the API reference in a real browser (Debian's Chromium, driven by
 * playwright-core) against a fresh `npm run dev`, and checks what a new user would do there: every
 * operation is on the page, "try it" on hello answers 200, a token from login put in Authorize makes
 * GET /users/me answer 200 from the page, and the console shows no error (a CSP violation included).
 * Then a TOTP enrolment as an authenticator app sees it: the QR code Chromium draws is read back
 * by zbarimg, and oathtool's code for the scanned secret activates the factor.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Page } from 'playwright-core'
import { type DevServer, scratchCopy, startDevServer } from './lib/dev-server.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// As this machine's Chromium needs them: no sandbox as root, and nothing that reaches the network.
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

if (!existsSync(CHROMIUM)) {
  console.error(`No Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH).`)
  process.exit(2)
}

const dir = scratchCopy()
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

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

let server: DevServer | undefined
const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true })
try {
  server = await startDevServer(dir)
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
  const post = (path: string, body: unknown) =>
    fetch(`${server!.base}/api/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  await post('/users/signup', account)
  const { access_token } = (await (await post('/users/login', account)).json()) as { access_token: string }
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
  const enrolment = (await (await fetch(`${server.base}/api/v1/users/me/mfa/totp`, { method: 'POST', headers: auth })).json()) as {
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
  // SCREENSHOT=file.png keeps a picture of the page as the check left it.
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: false })
} catch (error) {
  failures++
  console.log(`FAIL ${(error as Error).message}`)
} finally {
  await browser.close()
  server?.stop()
}
console.log(failures === 0 ? '\nThe API reference works in Chromium.' : `\n${failures} browser check(s) failed.`)
process.exit(failures === 0 ? 0 : 1)
