import type { Context } from 'hono'
import { Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../app-env'
import { normaliseEmail } from '../db/users'
import type { ApiError } from '../errors'
import { enqueueAfterWrite, enqueueMail } from '../mail/jobs'
import { ipBudget } from '../rate-limit/ip-budget'
import { emailField, newPasswordField } from '../schemas/fields'
import { redeemResetLink, redeemRevertLink, redeemVerificationLink } from '../sign-in/mail-links'
import { readForm } from './forms'
import { Alert, Field, Form, Layout } from './layout'
import { fieldError, pageContext, refusalOf, respond, statusOf } from './respond'

/*
 * Forgot/reset, and the pages the mails' links land on. A link's token stays in the fragment
 * (never sent to the server by a GET, never in a log or a Referer); the page's script moves it
 * into the form, and only the form's POST spends it: a mail scanner that fetches the link spends
 * nothing.
 */

const forgotForm = z.object({ email: emailField })
const resetForm = z.object({
  token: z.string().min(1, 'is missing: open the link from the mail again').max(128),
  new_password: newPasswordField,
})
const tokenForm = z.object({ token: z.string().min(1, 'is missing: open the link from the mail again').max(128) })

function ForgotPage(props: { c: Context<AppEnv>; sent?: boolean; email?: string; error?: ApiError }) {
  const page = pageContext(props.c)
  return (
    <Layout page={page} title="Reset your password">
      <Alert message={props.error?.detail} />
      {props.sent ? (
        <p class="notice" role="status">
          If an account has that address, a link to set a new password is on its way. It works once, for a limited time.
        </p>
      ) : (
        <Form page={page} action="/forgot-password">
          <Field
            id="email"
            label="Email"
            type="email"
            autocomplete="email"
            value={props.email}
            error={fieldError(props.error, 'email')}
            autofocus
          />
          <button type="submit">Send reset link</button>
        </Form>
      )}
      <nav class="links">
        <a href="/sign-in">Back to sign in</a>
      </nav>
    </Layout>
  )
}

/** A page whose form carries a mailed link's token, moved there from the fragment by its script. */
function LinkPage(props: {
  c: Context<AppEnv>
  title: string
  action: string
  intro: string
  button: string
  withPassword?: boolean
  done?: string
  token?: string
  error?: ApiError
}) {
  const page = pageContext(props.c)
  return (
    <Layout page={page} title={props.title} scripts={props.done ? [] : ['link-token']}>
      <Alert message={props.error?.detail ?? fieldError(props.error, 'token')} />
      {props.done ? (
        <>
          <p class="notice" role="status">
            {props.done}
          </p>
          <nav class="links">
            <a href="/account">Go to your account</a>
          </nav>
        </>
      ) : (
        <>
          <p>{props.intro}</p>
          <Form page={page} action={props.action}>
            <input type="hidden" name="token" value={props.token ?? ''} data-link-token />
            {props.withPassword && (
              <Field
                id="new_password"
                label="New password"
                type="password"
                autocomplete="new-password"
                error={fieldError(props.error, 'new_password')}
              />
            )}
            <button type="submit">{props.button}</button>
          </Form>
        </>
      )}
    </Layout>
  )
}

const resetPage = {
  title: 'Set a new password',
  action: '/reset-password',
  intro: 'Choose a new password for your account.',
  button: 'Set new password',
  withPassword: true,
}
const verifyPage = {
  title: 'Confirm your email address',
  action: '/verify-email',
  intro: 'Confirm that this address is yours.',
  button: 'Confirm email address',
}
const revertPage = {
  title: 'Restore your address',
  action: '/revert-email',
  intro: 'Your account’s address was changed. If that was not you, restore your address: every session of the account ends.',
  button: 'Restore my address',
}

/** GET /forgot-password, /reset-password, /verify-email and /revert-email, each with its form's POST. */
export const recoveryPages = new Hono<AppEnv>()
  .get('/forgot-password', (c) => respond(c, <ForgotPage c={c} />))
  .post('/forgot-password', ipBudget(), async (c) => {
    try {
      const { email } = readForm(c, forgotForm)
      await enqueueMail(c.env.MAIL_QUEUE, [{ kind: 'password_reset', email: normaliseEmail(email) }])
      // The same words whether or not an account has the address.
      return respond(c, <ForgotPage c={c} sent />)
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, <ForgotPage c={c} email={c.var.form.email} error={error} />, statusOf(error))
    }
  })
  .get('/reset-password', (c) => respond(c, <LinkPage c={c} {...resetPage} />))
  .post('/reset-password', ipBudget(), async (c) => {
    try {
      const { token, new_password } = readForm(c, resetForm, { field: 'new_password' })
      await redeemResetLink(c.var.signIn, { token, newPassword: new_password })
      return respond(
        c,
        <LinkPage
          c={c}
          {...resetPage}
          done="Your password is set, and every session of your account has ended. Sign in with the new one."
        />,
      )
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, <LinkPage c={c} {...resetPage} token={c.var.form.token} error={error} />, statusOf(error))
    }
  })
  .get('/verify-email', (c) => respond(c, <LinkPage c={c} {...verifyPage} />))
  .post('/verify-email', ipBudget(), async (c) => {
    try {
      const { token } = readForm(c, tokenForm)
      const verified = await redeemVerificationLink(c.var.signIn, token)
      // As POST /users/email/verify: the old address hears of a change only if it was proved.
      if (verified.kind === 'address_changed' && verified.oldAddressWasVerified) {
        const { user, oldEmail } = verified
        await enqueueAfterWrite(
          c.env.MAIL_QUEUE,
          [{ kind: 'email_changed', userId: user.id, oldEmail, newEmail: user.email }],
          c.var.requestId,
        )
      }
      return respond(c, <LinkPage c={c} {...verifyPage} done={`Your address ${verified.user.email} is confirmed.`} />)
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, <LinkPage c={c} {...verifyPage} token={c.var.form.token} error={error} />, statusOf(error))
    }
  })
  .get('/revert-email', (c) => respond(c, <LinkPage c={c} {...revertPage} />))
  .post('/revert-email', ipBudget(), async (c) => {
    try {
      const { token } = readForm(c, tokenForm)
      const user = await redeemRevertLink(c.var.signIn, token)
      return respond(
        c,
        <LinkPage
          c={c}
          {...revertPage}
          done={`Your address ${user.email} is back, and every session has ended. If someone else made the change, reset your password now.`}
        />,
      )
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, <LinkPage c={c} {...revertPage} token={c.var.form.token} error={error} />, statusOf(error))
    }
  })
