import type { Context } from 'hono'
import { Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../app-env'
import type { ApiError } from '../errors'
import { currentPasswordField } from '../schemas/fields'
import { signInWithPassword } from '../sign-in/attempt'
import { readForm } from './forms'
import { Alert, Field, Form, Layout } from './layout'
import { fieldError, pageContext, refusalOf, respond, returnToOf, statusOf } from './respond'
import { browserSignInAnswer } from './sign-in-answer'

const signInForm = z.object({ username: z.string().trim().min(1, 'is required').max(254), password: currentPasswordField })

function SignInPage(props: { c: Context<AppEnv>; returnTo: string; username?: string; error?: ApiError }) {
  const { c, returnTo, error } = props
  const page = pageContext(c)
  const query = returnTo === '/account' ? '' : `?return_to=${encodeURIComponent(returnTo)}`
  return (
    <Layout page={page} title="Sign in" scripts={['passkeys']}>
      <Alert message={error?.detail} />
      <Form page={page} action={`/sign-in${query}`} returnTo={returnTo} id="sign-in-form">
        <Field
          id="username"
          label="Username or email"
          autocomplete="username webauthn"
          value={props.username}
          error={fieldError(error, 'username')}
          autofocus
        />
        <Field id="password" label="Password" type="password" autocomplete="current-password" error={fieldError(error, 'password')} />
        <button type="submit">Sign in</button>
      </Form>
      <button type="button" class="secondary" id="passkey-sign-in" data-return-to={returnTo} hidden>
        Sign in with a passkey
      </button>
      {c.var.config.providers.map((provider) => (
        <Form page={page} action={`/sign-in/with/${encodeURIComponent(provider.id)}`} returnTo={returnTo}>
          <button type="submit" class="secondary">{`Continue with ${provider.name}`}</button>
        </Form>
      ))}
      <nav class="links" aria-label="Other ways in">
        <a href={`/sign-up${query}`}>Create an account</a>
        <a href="/forgot-password">Forgot your password?</a>
      </nav>
    </Layout>
  )
}

/** GET /sign-in and its form's POST: a password sign-in through the pipeline, held by the browser's cookie. */
export const signInPage = new Hono<AppEnv>()
  .get('/sign-in', (c) => {
    const returnTo = returnToOf(c)
    // Already signed in: straight on, as a second sign-in would only open a second session; unless
    // an application asked for a fresh sign-in (prompt=login on its authorization request).
    if (c.var.browser && c.req.query('prompt') !== 'login') return c.redirect(returnTo, 303)
    return respond(c, <SignInPage c={c} returnTo={returnTo} />)
  })
  .post('/sign-in', async (c) => {
    const returnTo = returnToOf(c)
    const username = c.var.form.username
    try {
      const { username: identifier, password } = readForm(c, signInForm)
      const outcome = await signInWithPassword(c.var.signIn, { identifier, password })
      return browserSignInAnswer(c, outcome, returnTo)
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, <SignInPage c={c} returnTo={returnTo} username={username} error={error} />, statusOf(error))
    }
  })
