import type { Context } from 'hono'
import { Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../app-env'
import type { ApiError } from '../errors'
import { enqueueAfterWrite, verificationJob } from '../mail/jobs'
import { ipBudget } from '../rate-limit/ip-budget'
import { emailField, newPasswordField, usernameField } from '../schemas/fields'
import { signInWithPassword } from '../sign-in/attempt'
import { createAccount } from '../sign-in/sign-up'
import { readForm } from './forms'
import { Alert, Field, Form, Layout } from './layout'
import { fieldError, pageContext, refusalOf, respond, returnToOf, statusOf } from './respond'
import { browserSignInAnswer } from './sign-in-answer'

const signUpForm = z.object({ username: usernameField, email: emailField, password: newPasswordField })

function SignUpPage(props: { c: Context<AppEnv>; returnTo: string; values?: Record<string, string>; error?: ApiError }) {
  const { c, returnTo, values, error } = props
  const page = pageContext(c)
  const query = returnTo === '/account' ? '' : `?return_to=${encodeURIComponent(returnTo)}`
  return (
    <Layout page={page} title="Create an account">
      <Alert message={error?.detail} />
      <Form page={page} action={`/sign-up${query}`} returnTo={returnTo}>
        <Field
          id="username"
          label="Username"
          autocomplete="username"
          value={values?.username}
          error={fieldError(error, 'username')}
          autofocus
        />
        <p class="hint">3 to 32 letters, digits, and _ . - characters.</p>
        <Field id="email" label="Email" type="email" autocomplete="email" value={values?.email} error={fieldError(error, 'email')} />
        <Field id="password" label="Password" type="password" autocomplete="new-password" error={fieldError(error, 'password')} />
        <p class="hint">{`At least ${c.var.config.passwordMinLength} characters; a passphrase of a few words works well.`}</p>
        <button type="submit">Create account</button>
      </Form>
      <nav class="links">
        <a href={`/sign-in${query}`}>Sign in instead</a>
      </nav>
    </Layout>
  )
}

function CheckInboxPage(props: { c: Context<AppEnv>; email: string }) {
  return (
    <Layout page={pageContext(props.c)} title="Check your inbox">
      <p
        class="notice"
        role="status"
      >{`Your account is ready. We sent a link to ${props.email}: follow it to confirm your address, then sign in.`}</p>
      <nav class="links">
        <a href="/sign-in">Sign in</a>
      </nav>
    </Layout>
  )
}

/**
 * GET /sign-up and its POST: the same account creation as POST /users/signup (budgeted per
 * network, the same field rules and policy), then a password sign-in through the pipeline, unless
 * the address must be confirmed first.
 */
export const signUpPage = new Hono<AppEnv>()
  .get('/sign-up', (c) => respond(c, <SignUpPage c={c} returnTo={returnToOf(c)} />))
  .post('/sign-up', ipBudget(), async (c) => {
    const returnTo = returnToOf(c)
    const values = { username: c.var.form.username ?? '', email: c.var.form.email ?? '' }
    try {
      const input = readForm(c, signUpForm, { field: 'password', username: values.username, email: values.email })
      const user = await createAccount(c.var.signIn, input)
      await enqueueAfterWrite(c.env.MAIL_QUEUE, [verificationJob(user)], c.var.requestId)
      if (c.var.config.emailVerificationRequired) return respond(c, <CheckInboxPage c={c} email={user.email} />)
      const outcome = await signInWithPassword(c.var.signIn, { identifier: user.username, password: input.password })
      return browserSignInAnswer(c, outcome, returnTo)
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, <SignUpPage c={c} returnTo={returnTo} values={values} error={error} />, statusOf(error))
    }
  })
