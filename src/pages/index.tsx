import { type Context, Hono } from 'hono'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../app-env'
import { ApiError } from '../errors'
import { log } from '../log'
import { readBrowserSession } from '../middleware/browser-session'
import { checkPageForm } from '../middleware/page-forms'
import { accountPages, signOutPage } from './account'
import { authorizePage } from './authorize'
import { endSessionPage } from './end-session'
import { invitationPage } from './invitation'
import { Alert, Layout } from './layout'
import { passkeyPages } from './passkeys'
import { providerPages } from './provider'
import { recoveryPages } from './recovery'
import { pageContext } from './respond'
import { SCRIPTS } from './scripts'
import { secondStepPage } from './second-step'
import { signInPage } from './sign-in'
import { signUpPage } from './sign-up'
import { STYLESHEET } from './style'

/**
 * The pages' Content-Security-Policy: scripts only with this response's nonce (never inline
 * without it, never eval), styles and images from this origin (images also as data: URLs, the QR
 * code), fetches to this origin, no frames, no plugins, no <base>. No form-action: it would also
 * block the redirect after a form's POST to an OAuth client's redirect URI.
 */
const policy = (nonce: string) =>
  `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'`

/**
 * Every page's frame: a fresh nonce and its CSP, and the sign-in context set to open sessions a
 * browser holds (so whatever a page's sign-in opens is a browser session with its own lifetime).
 */
function pageFrame() {
  return createMiddleware<AppEnv>(async function frame(c, next) {
    const nonce = crypto.randomUUID().replaceAll('-', '')
    c.set('nonce', nonce)
    c.set('signIn', { ...c.var.signIn, holder: 'browser' })
    await next()
    if (c.res.headers.get('Content-Type')?.startsWith('text/html')) c.res.headers.set('Content-Security-Policy', policy(nonce))
  })
}

/** A signed-in page without a session goes to /sign-in, and comes back here afterwards. */
function requireBrowserSession() {
  return createMiddleware<AppEnv>(async function signedInPage(c, next) {
    if (c.var.browser) return next()
    const url = new URL(c.req.url)
    const back = c.req.method === 'GET' ? `${url.pathname}${url.search}` : '/account'
    return c.redirect(`/sign-in?return_to=${encodeURIComponent(back)}`, 303)
  })
}

/**
 * The pages' paths, as the middleware is mounted on them. Hono's `/x/*` also matches `/x` itself:
 * listing both would run the middleware twice (two nonces, and a CSP naming the wrong one).
 */
const PAGE_ROUTES = [
  '/sign-in/*',
  '/sign-up',
  '/sign-out',
  '/forgot-password',
  '/reset-password',
  '/verify-email',
  '/revert-email',
  '/account/*',
  '/oauth2/authorize',
  '/oauth2/end-session',
  '/accept-invitation',
]

const assets = new Hono<AppEnv>()
  .get('/pages/style.css', (c) => {
    c.header('Cache-Control', 'public, max-age=3600')
    return c.body(STYLESHEET, 200, { 'Content-Type': 'text/css; charset=utf-8' })
  })
  .get('/pages/:name{[a-z-]+\\.js}', (c) => {
    const script = SCRIPTS[c.req.param('name').replace(/\.js$/, '')]
    if (script === undefined) return c.notFound()
    c.header('Cache-Control', 'public, max-age=3600')
    return c.body(script, 200, { 'Content-Type': 'text/javascript; charset=utf-8' })
  })

/**
 * The hosted pages at the origin's root. In order: the frame (nonce, CSP, browser sessions),
 * the form check of every POST (before anything else reads the request), then the browser
 * session, then the pages; the account's pages need a signed-in browser.
 */
export const pages = new Hono<AppEnv>().route('/', assets)
// Only on the pages' own paths: an API path nothing answers stays the API's 404 or 405.
for (const path of PAGE_ROUTES) pages.use(path, pageFrame(), checkPageForm(), readBrowserSession())
pages
  .use('/account/*', requireBrowserSession())
  .route('/', signInPage)
  .route('/', secondStepPage)
  .route('/', signUpPage)
  .route('/', recoveryPages)
  .route('/', passkeyPages)
  .route('/', providerPages)
  .route('/', accountPages)
  .route('/', signOutPage)
  .route('/', authorizePage)
  .route('/', endSessionPage)
  .route('/', invitationPage)

/** The paths the pages answer: a refusal on one is a page, not problem+json. */
const PAGE_PATHS =
  /^\/((sign-in|sign-up|sign-out|forgot-password|reset-password|verify-email|revert-email|accept-invitation|account|pages)(\/|$)|oauth2\/(authorize|end-session)$)/
export const isPagePath = (path: string) => PAGE_PATHS.test(path)

/** A refusal no page form caught (a forged form, an oversized body): a page saying so, with the problem's status. */
export function pageRefusal(error: Error, c: Context<AppEnv>) {
  const known = error instanceof ApiError
  if (!known) log('error', 'page.failed', { request_id: c.var.requestId, error: error.name, path: c.req.path })
  const message = known ? error.detail : 'Something went wrong on our side. Try again in a moment.'
  if (!c.var.nonce) c.set('nonce', crypto.randomUUID().replaceAll('-', ''))
  const status = known ? (error.status as 400 | 403 | 404 | 413 | 415 | 429) : 500
  if (known) for (const [name, value] of Object.entries(error.headers)) c.header(name, value)
  return c.html(
    <Layout page={pageContext(c)} title="That did not work">
      <Alert message={message} />
      <nav class="links">
        <a href="/sign-in">Sign in</a>
        <a href="/account">Your account</a>
      </nav>
    </Layout>,
    status,
  )
}

pages.onError(pageRefusal)
