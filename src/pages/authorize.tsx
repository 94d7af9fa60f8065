import type { Context } from 'hono'
import { Hono } from 'hono'
import type { AppEnv } from '../app-env'
import { recordEvent } from '../db/audit'
import { problem } from '../errors'
import { type AuthorizationRequest, clientRedirect, judgeAuthorizationRequest, signedAuthAfter } from '../oidc/authorization-request'
import { type Browser, consentBinding, issueCode, nextStep } from '../oidc/authorize'
import { SCOPE_WORDS, type Scope } from '../oidc/scopes'
import { Alert, Form, Layout } from './layout'
import { pageContext, respond } from './respond'

/*
 * The authorization endpoint (GET /oauth2/authorize) on the hosted pages' browser session, and the
 * consent form's POST to the same address. The request is judged (oidc/authorization-request.ts),
 * then what this browser's person still has to do is decided (oidc/authorize.ts): this file only
 * turns those answers into pages and redirects. Nothing reaches a redirect URI that is not the
 * client's own; every answer that does carries `iss` (RFC 9207).
 */

const CONSENT_FIELD = 'consent_binding'

/** An error before the redirect URI is trusted: shown here, never sent anywhere (400). */
function UntrustedRequest(props: { c: Context<AppEnv>; message: string }) {
  return (
    <Layout page={pageContext(props.c)} title="This sign-in link does not work">
      <Alert message={props.message} />
      <p>Go back to the application and try again. If it keeps happening, tell the application's developers.</p>
    </Layout>
  )
}

function ConsentPage(props: { c: Context<AppEnv>; request: AuthorizationRequest; binding: string; signedInAs: string }) {
  const { c, request } = props
  const page = pageContext(c)
  const scopes = request.scopes
  const resources = request.resources.filter((resource) => resource !== c.var.config.publicUrl)
  return (
    <Layout page={page} title={`${request.client.name} wants to use your account`}>
      <p>{`You are signed in as ${props.signedInAs}. If you allow it, ${request.client.name} will be able to:`}</p>
      <ul>
        {scopes.length === 0 && <li>Connect to your account, without seeing its details</li>}
        {scopes.map((scope) => (
          <li>{SCOPE_WORDS[scope as Scope]}</li>
        ))}
        {resources.map((resource) => (
          <li>{`Use ${resource} as you`}</li>
        ))}
      </ul>
      <p class="hint">{`You will be sent back to ${new URL(request.redirectUri).origin}. You can take this back at any time under Apps with access in your account.`}</p>
      <Form page={page} action={`/oauth2/authorize${new URL(c.req.url).search}`}>
        <input type="hidden" name={CONSENT_FIELD} value={props.binding} />
        <button type="submit" name="decision" value="allow">
          Allow
        </button>
        <button type="submit" name="decision" value="deny" class="secondary">
          Deny
        </button>
      </Form>
    </Layout>
  )
}

/** The request's query as it came, for the consent binding and the way back from a sign-in. */
const queryOf = (c: Context<AppEnv>) => new URL(c.req.url).search

/**
 * Where a sign-in goes to come back here. A fresh one (prompt=login, an old max_age, a second
 * factor) drops `login` from the prompt and adds `auth_after`, so the sign-in it asks for satisfies
 * the request once, instead of asking again forever.
 */
async function signInRedirect(c: Context<AppEnv>, fresh: boolean): Promise<string> {
  const query = new URLSearchParams(queryOf(c))
  if (fresh) {
    const prompts = (query.get('prompt') ?? '').split(' ').filter((prompt) => prompt && prompt !== 'login')
    if (prompts.length > 0) query.set('prompt', prompts.join(' '))
    else query.delete('prompt')
    query.delete('auth_after')
    const time = Math.floor(c.var.signIn.now.getTime() / 1000)
    query.set('auth_after', await signedAuthAfter(c.var.config.consentKey, query, time))
  }
  const back = `/oauth2/authorize?${query}`
  return `/sign-in?${fresh ? 'prompt=login&' : ''}return_to=${encodeURIComponent(back)}`
}

async function issue(c: Context<AppEnv>, request: AuthorizationRequest, browser: Browser, consented: boolean) {
  const code = await issueCode(c.var.signIn, request, browser, consented)
  return c.redirect(clientRedirect(request.redirectUri, c.var.config.publicUrl, { code, state: request.state }), 303)
}

export const authorizePage = new Hono<AppEnv>()
  .get('/oauth2/authorize', async (c) => {
    c.header('Cache-Control', 'no-store')
    const judged = await judgeAuthorizationRequest(c.var.signIn, new URL(c.req.url).searchParams)
    if (judged.kind === 'untrusted') return respond(c, <UntrustedRequest c={c} message={judged.message} />, 400)
    const { publicUrl } = c.var.config
    if (judged.kind === 'redirect')
      return c.redirect(
        clientRedirect(judged.redirectUri, publicUrl, { error: judged.error, error_description: judged.description, state: judged.state }),
        303,
      )
    const { request } = judged
    const browser = c.var.browser
    const step = await nextStep(c.var.signIn, request, browser)
    if (step.kind === 'refuse')
      return c.redirect(
        clientRedirect(request.redirectUri, publicUrl, { error: step.error, error_description: step.description, state: request.state }),
        303,
      )
    if (step.kind === 'sign_in' || !browser) return c.redirect(await signInRedirect(c, step.kind === 'sign_in' && step.fresh), 303)
    if (step.kind === 'issue') return issue(c, request, browser, false)
    const binding = await consentBinding(c.var.config.consentKey, browser.session.id, queryOf(c))
    return respond(c, <ConsentPage c={c} request={request} binding={binding} signedInAs={browser.user.username} />)
  })
  .post('/oauth2/authorize', async (c) => {
    c.header('Cache-Control', 'no-store')
    const judged = await judgeAuthorizationRequest(c.var.signIn, new URL(c.req.url).searchParams)
    if (judged.kind === 'untrusted') return respond(c, <UntrustedRequest c={c} message={judged.message} />, 400)
    if (judged.kind === 'redirect') throw problem('csrf_failed', { context: 'The form does not belong to a request this page showed.' })
    const { request } = judged
    const browser = c.var.browser
    if (!browser) return c.redirect(await signInRedirect(c, false), 303)
    // The form must come from a page this browser session loaded for this very request.
    const binding = await consentBinding(c.var.config.consentKey, browser.session.id, queryOf(c))
    if (c.var.form[CONSENT_FIELD] !== binding) throw problem('csrf_failed', { context: 'The form was shown to another session.' })
    if (c.var.form.decision !== 'allow') {
      await recordEvent(
        c.var.db,
        { action: 'oauth.consent_denied', actorId: browser.user.id, targetId: browser.user.id, details: { client_id: request.client.id } },
        c.var.client,
        c.var.signIn.now,
      )
      return c.redirect(
        clientRedirect(request.redirectUri, c.var.config.publicUrl, {
          error: 'access_denied',
          error_description: 'The person did not allow it.',
          state: request.state,
        }),
        303,
      )
    }
    return issue(c, request, browser, true)
  })
