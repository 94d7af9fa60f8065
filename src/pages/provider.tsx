import type { Context } from 'hono'
import { Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../app-env'
import { newOpaqueToken } from '../auth/opaque-tokens'
import { type ApiError, isErrorCode, problem } from '../errors'
import { clearHostCookie, hostCookie, setHostCookie } from '../http/cookies'
import { flowBrowser, requestOrigin } from '../http/provider-browser'
import { sha256, toBase64Url } from '../lib/encoding'
import { currentPasswordField } from '../schemas/fields'
import { completeLinking, startLinking, startProviderFlow } from '../sign-in/provider'
import { signInWithProviderCode } from '../sign-in/provider-token'
import { requireAddingWayIn, requireVerifiedAddress } from '../sign-in/recent-proof'
import { AccountPage, confirmFirst, PasswordFirstPage } from './account'
import { readForm } from './forms'
import { Alert, Form, Layout } from './layout'
import { pageContext, refusalOf, respond, statusOf } from './respond'
import { confineReturnTo } from './return-to'
import { browserSignInAnswer, type FLOW_COOKIES } from './sign-in-answer'

/*
 * "Continue with {provider}" on /sign-in: the page is the app of a provider sign-in, as the JSON
 * API's contract has one. It starts the flow with its own PKCE verifier (kept in a short-lived
 * cookie with where to go afterwards), the provider sends the browser through our callback back
 * to /sign-in/provider with `#code=…` in the fragment, and the page's script posts the code; the
 * exchange is the same signInWithProviderCode as POST /users/oauth/token.
 */

const PROVIDER_COOKIE: (typeof FLOW_COOKIES)[number] = 'edge-users-provider'
const PROVIDER_COOKIE_TTL_SECONDS = 600
const providerCookie = /^([A-Za-z0-9_-]{43})~(.*)$/s

const codeForm = z.object({ code: z.string().max(256).optional(), error: z.string().max(64).optional() })

function ProviderLandingPage(props: { c: Context<AppEnv>; error?: string }) {
  const page = pageContext(props.c)
  return (
    <Layout page={page} title="Signing you in" scripts={props.error ? [] : ['provider-code']}>
      <Alert message={props.error} />
      {props.error ? (
        <nav class="links">
          <a href="/sign-in">Back to sign in</a>
        </nav>
      ) : (
        <Form page={page} action="/sign-in/provider" id="provider-code-form">
          <input type="hidden" name="code" value="" data-fragment="code" />
          <input type="hidden" name="error" value="" data-fragment="error" />
          <noscript>
            <p>Finishing a sign-in with another provider needs JavaScript.</p>
          </noscript>
          <button type="submit">Continue</button>
        </Form>
      )}
    </Layout>
  )
}

/** The words of a provider flow's `#error=` code, as the catalog has them; anything else a generic line. */
function errorWords(code: string): string {
  return isErrorCode(code) ? problem(code).detail : 'The sign-in with the provider did not finish. Try again.'
}

/** Where a link flow comes back to: the same landing, its fragment holding `#link_code=…`. */
function ConnectedLandingPage(props: { c: Context<AppEnv> }) {
  const page = pageContext(props.c)
  return (
    <Layout page={page} title="Connecting your account" scripts={['provider-code']}>
      <Form page={page} action="/account/connected" id="provider-code-form">
        <input type="hidden" name="code" value="" data-fragment="link_code" />
        <input type="hidden" name="error" value="" data-fragment="error" />
        <noscript>
          <p>Connecting an account of another provider needs JavaScript.</p>
        </noscript>
        <button type="submit">Continue</button>
      </Form>
    </Layout>
  )
}

const connectPage = (c: Context<AppEnv>, error?: ApiError) => {
  const provider = c.var.config.providers.find((candidate) => candidate.id === c.req.param('provider'))
  return (
    <PasswordFirstPage
      c={c}
      title={`Connect ${provider?.name ?? 'an account'}`}
      action={`/account/connect/${encodeURIComponent(c.req.param('provider') ?? '')}`}
      intro="Adding a way to sign in needs your current password. Then the provider asks you to sign in there."
      error={error}
    />
  )
}

/** A link flow's verifier and provider, kept like a sign-in's (`__Host-edge-users-link`). */
const LINK_COOKIE: (typeof FLOW_COOKIES)[number] = 'edge-users-link'
const LINK_COOKIE_PATTERN = /^([A-Za-z0-9_-]{43})~([A-Za-z0-9_-]{1,32})$/

export const providerPages = new Hono<AppEnv>()
  .get('/account/connect/:provider', (c) => respond(c, connectPage(c)))
  .post('/account/connect/:provider', async (c) => {
    const account = c.var.browser!
    const providerId = c.req.param('provider')
    try {
      const { current_password } = readForm(c, z.object({ current_password: currentPasswordField }))
      await requireAddingWayIn(c.var.signIn, account, current_password)
      const verifier = newOpaqueToken()
      const location = await startLinking(c.var.signIn, account, {
        providerId,
        origin: requestOrigin(c),
        redirectUri: `${c.var.config.publicUrl}/account/connected`,
        codeChallenge: toBase64Url(await sha256(verifier)),
      })
      setHostCookie(c, LINK_COOKIE, `${verifier}~${providerId}`, PROVIDER_COOKIE_TTL_SECONDS)
      return c.redirect(location, 303)
    } catch (caught) {
      const error = refusalOf(c, caught)
      if (error.code === 'reauthentication_required') return confirmFirst(c, `/account/connect/${encodeURIComponent(providerId)}`)
      return respond(c, connectPage(c, error), statusOf(error))
    }
  })
  .get('/account/connected', (c) => respond(c, <ConnectedLandingPage c={c} />))
  .post('/account/connected', async (c) => {
    const account = c.var.browser!
    const kept = LINK_COOKIE_PATTERN.exec(hostCookie(c, LINK_COOKIE) ?? '')
    clearHostCookie(c, LINK_COOKIE)
    try {
      const { code, error } = readForm(c, codeForm)
      if (error) return respond(c, await AccountPage({ c, error: isErrorCode(error) ? problem(error) : problem('invalid_challenge') }), 400)
      if (!kept?.[1] || !kept[2] || !code) throw problem('invalid_challenge', { context: 'Start connecting again.' })
      requireVerifiedAddress(account.user)
      await completeLinking(c.var.signIn, account, kept[2], { code, codeVerifier: kept[1] })
      return respond(c, await AccountPage({ c, notice: 'The account is connected: you can sign in with it now.' }))
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, await AccountPage({ c, error }), statusOf(error))
    }
  })
  .post('/sign-in/with/:provider', async (c) => {
    const returnTo = confineReturnTo(c.var.form.return_to, c.var.config.appUrl)
    const verifier = newOpaqueToken()
    const challenge = toBase64Url(await sha256(verifier))
    try {
      const location = await startProviderFlow(c.var.signIn, flowBrowser(c), c.req.param('provider'), {
        redirectUri: `${c.var.config.publicUrl}/sign-in/provider`,
        codeChallenge: challenge,
      })
      setHostCookie(c, PROVIDER_COOKIE, `${verifier}~${returnTo}`, PROVIDER_COOKIE_TTL_SECONDS)
      return c.redirect(location, 303)
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, <ProviderLandingPage c={c} error={error.detail} />, statusOf(error))
    }
  })
  .get('/sign-in/provider', (c) => respond(c, <ProviderLandingPage c={c} />))
  .post('/sign-in/provider', async (c) => {
    const kept = providerCookie.exec(hostCookie(c, PROVIDER_COOKIE) ?? '')
    clearHostCookie(c, PROVIDER_COOKIE)
    try {
      const { code, error } = readForm(c, codeForm)
      if (error) return respond(c, <ProviderLandingPage c={c} error={errorWords(error)} />, 400)
      if (!kept?.[1] || !code) throw problem('invalid_challenge')
      const returnTo = confineReturnTo(kept[2], c.var.config.appUrl)
      const outcome = await signInWithProviderCode(c.var.signIn, { code, codeVerifier: kept[1] })
      return browserSignInAnswer(c, outcome, returnTo)
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, <ProviderLandingPage c={c} error={error.detail} />, statusOf(error))
    }
  })
