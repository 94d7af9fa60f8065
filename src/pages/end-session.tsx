import type { Context } from 'hono'
import { Hono } from 'hono'
import type { AppEnv } from '../app-env'
import { verifyIdTokenHint } from '../auth/tokens'
import { findOAuthClient } from '../db/oauth-clients'
import { logout } from '../db/sessions'
import { dropBrowserSession } from '../http/browser-session'
import { Form, Layout } from './layout'
import { pageContext, respond } from './respond'

/*
 * RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at GET /oauth2/end-session. With an
 * ID token we issued as `id_token_hint` and one of its client's registered
 * post_logout_redirect_uris, the browser's session ends (when it is the session the hint was
 * issued in: its `sid`) and the browser goes back with `state`; signed out already, it just goes
 * back. Otherwise nobody is signed out by a link: the page offers the Sign out button, whose POST
 * carries the CSRF token like every other form.
 */

function SignOutOffer(props: { c: Context<AppEnv> }) {
  const page = pageContext(props.c)
  return (
    <Layout page={page} title="Sign out">
      {props.c.var.browser ? (
        <Form page={page} action="/sign-out">
          <p>{`You are signed in as ${props.c.var.browser.user.username}.`}</p>
          <button type="submit">Sign out</button>
        </Form>
      ) : (
        <p>You are signed out.</p>
      )}
    </Layout>
  )
}

export const endSessionPage = new Hono<AppEnv>().get('/oauth2/end-session', async (c) => {
  c.header('Cache-Control', 'no-store')
  const { config } = c.var
  const hint = c.req.query('id_token_hint')
  const claims = hint ? await verifyIdTokenHint(config.keys, config.publicUrl, hint) : undefined
  const clientId = c.req.query('client_id')
  const client = claims && (!clientId || clientId === claims.aud) ? await findOAuthClient(c.var.db, claims.aud) : undefined
  const target = c.req.query('post_logout_redirect_uri')
  if (!claims || !client || !target || !client.postLogoutRedirectUris.includes(target)) return respond(c, <SignOutOffer c={c} />)
  const browser = c.var.browser
  // Only the session the hint was issued in is ended by a link; any other one is asked about (an
  // old ID token must not be a standing licence to sign its person out).
  if (browser && (browser.user.id !== claims.sub || browser.session.id !== claims.sid)) return respond(c, <SignOutOffer c={c} />)
  if (browser) {
    await logout(c.var.db, {
      sessionId: browser.session.id,
      userId: browser.user.id,
      refreshToken: undefined,
      client: c.var.client,
      now: c.var.signIn.now,
    })
    dropBrowserSession(c)
  }
  const url = new URL(target)
  const state = c.req.query('state')
  if (state !== undefined) url.searchParams.set('state', state)
  return c.redirect(url.href, 303)
})
