import type { Context } from 'hono'
import { Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../app-env'
import { hashOpaqueToken } from '../auth/opaque-tokens'
import { findOpenInvitation } from '../db/orgs'
import { type ApiError, problem } from '../errors'
import { acceptInvitationToken } from '../orgs/invitations'
import { readForm } from './forms'
import { Alert, Form, Layout } from './layout'
import { pageContext, refusalOf, respond, statusOf } from './respond'

/*
 * GET /accept-invitation#token=…: the token stays in the fragment; the page's script puts it in a
 * form that shows the invitation (the organization's name and the roles offered), whose page has
 * the **Accept invitation** button. Signed out, the page sends the person to sign in first, and the
 * tab keeps the token meanwhile. Accepting goes through the same function as the JSON route.
 */

const tokenForm = z.object({ token: z.string().min(1, 'is required').max(128) })

function InvitationPage(props: {
  c: Context<AppEnv>
  offer?: { token: string; organization: string; roles: string[] }
  done?: string
  error?: ApiError
}) {
  const { c, offer } = props
  const page = pageContext(c)
  const signedIn = c.var.browser !== undefined
  return (
    <Layout page={page} title="Accept an invitation" scripts={offer ? [] : ['link-token']}>
      <Alert message={props.error?.detail} />
      {props.done ? (
        <>
          <p class="notice" role="status" data-forget-link-token>
            {props.done}
          </p>
          <nav class="links">
            <a href="/account">Go to your account</a>
          </nav>
        </>
      ) : !signedIn ? (
        <p data-keep-link-token>
          Sign in to the account this invitation was sent to, then come back to this page to accept it.{' '}
          <a href={`/sign-in?return_to=${encodeURIComponent('/accept-invitation')}`}>Sign in</a>
        </p>
      ) : offer ? (
        <>
          <p>{`You are invited to ${offer.organization}, as ${offer.roles.join(', ')}.`}</p>
          <Form page={page} action="/accept-invitation">
            <input type="hidden" name="token" value={offer.token} />
            <input type="hidden" name="decision" value="accept" />
            <button type="submit">Accept invitation</button>
          </Form>
        </>
      ) : (
        <Form page={page} action="/accept-invitation" data-auto-submit>
          <input type="hidden" name="token" value="" data-link-token data-keep-link-token />
          <button type="submit">Show the invitation</button>
        </Form>
      )}
    </Layout>
  )
}

export const invitationPage = new Hono<AppEnv>()
  .get('/accept-invitation', (c) => {
    c.header('Cache-Control', 'no-store')
    return respond(c, <InvitationPage c={c} />)
  })
  .post('/accept-invitation', async (c) => {
    c.header('Cache-Control', 'no-store')
    const browser = c.var.browser
    if (!browser) return respond(c, <InvitationPage c={c} />)
    try {
      const { token } = readForm(c, tokenForm)
      if (c.var.form.decision !== 'accept') {
        const found = await findOpenInvitation(c.var.db, await hashOpaqueToken(token), c.var.signIn.now)
        if (!found) throw problem('invalid_token')
        return respond(c, <InvitationPage c={c} offer={{ token, organization: found.org.name, roles: found.invitation.roles }} />)
      }
      const { org } = await acceptInvitationToken(c.var.signIn, browser.user, token)
      return respond(c, <InvitationPage c={c} done={`You are now a member of ${org.name}.`} />)
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, <InvitationPage c={c} error={error} />, statusOf(error))
    }
  })
