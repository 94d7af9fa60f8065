import type { Context } from 'hono'
import { Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../app-env'
import { problemBody } from '../errors'
import { registerPasskey, registrationOptions } from '../factors/passkeys'
import { holdBrowserSession } from '../http/browser-session'
import { clearHostCookie, hostCookie } from '../http/cookies'
import { currentPasswordField } from '../schemas/fields'
import { authenticationResponseSchema, challengeIdSchema, passkeyNameSchema, registrationResponseSchema } from '../schemas/passkeys'
import { reauthenticationOptions, secondStepOptions, signInOptions, signInWithPasskey } from '../sign-in/passkeys'
import { reauthenticateWith } from '../sign-in/reauthenticate'
import { requireAddingWayIn, requireRecentProof, requireVerifiedAddress } from '../sign-in/recent-proof'
import { completeSecondStep } from '../sign-in/second-step'
import { readForm } from './forms'
import { Alert, CurrentPassword, Form, Layout } from './layout'
import { pageContext, refusalOf, respond, returnToOf } from './respond'
import { confineReturnTo } from './return-to'
import { readSecondStepCookie, SECOND_STEP_COOKIE } from './sign-in-answer'

/*
 * The passkey ceremonies of the pages. A form cannot hold an authenticator's answer, so the
 * page's script (pages/scripts.ts) posts each step here as a form (CSRF token and origin checked
 * like every page POST) and reads JSON back: the options, then where to go or the problem. The
 * credential travels as the WebAuthn JSON form the JSON API takes, checked by the same schema.
 */

/** A form field holding JSON: parsed, or a value the schema will refuse. */
const json = <S extends z.ZodType>(schema: S) =>
  z
    .string()
    .max(16_000)
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON' })
        return z.NEVER
      }
    })
    .pipe(schema)

const assertionForm = z.object({ challenge_id: challengeIdSchema, credential: json(authenticationResponseSchema) })
const registrationForm = z.object({
  challenge_id: challengeIdSchema,
  credential: json(registrationResponseSchema),
  name: passkeyNameSchema.optional(),
})
const passwordForm = z.object({ current_password: currentPasswordField })

/** A ceremony step's refusal, as the script reads it: the problem's body and status. */
function refusal(c: Context<AppEnv>, caught: unknown) {
  const error = refusalOf(c, caught)
  return c.json(problemBody(error, c.var.requestId), error.status)
}

function AddPasskeyPage(props: { c: Context<AppEnv>; error?: string }) {
  const page = pageContext(props.c)
  return (
    <Layout page={page} title="Add a passkey" scripts={['passkeys']}>
      <Alert message={props.error} />
      <p>Adding a way to sign in needs your current password. Then your device asks you to create the passkey.</p>
      <Form page={page} action="/account/passkeys/new" id="add-passkey-form">
        <CurrentPassword autofocus />
        <button type="submit">Continue</button>
      </Form>
      <noscript>
        <p>Adding a passkey needs JavaScript: your browser talks to your device for it.</p>
      </noscript>
      <p role="status" id="passkey-status" />
      <nav class="links">
        <a href="/account">Back to your account</a>
      </nav>
    </Layout>
  )
}

/** The passkey ceremonies: sign in, finish a second step, and add one on the account. */
export const passkeyPages = new Hono<AppEnv>()
  .post('/sign-in/passkey/options', async (c) => {
    try {
      return c.json(await signInOptions(c.var.signIn), 200)
    } catch (caught) {
      return refusal(c, caught)
    }
  })
  .post('/sign-in/passkey', async (c) => {
    try {
      const { challenge_id, credential } = readForm(c, assertionForm)
      const grant = await signInWithPasskey(c.var.signIn, { challengeId: challenge_id, credential })
      holdBrowserSession(c, grant)
      return c.json({ location: returnToOf(c) }, 200)
    } catch (caught) {
      return refusal(c, caught)
    }
  })
  .post('/sign-in/second-step/passkey/options', async (c) => {
    try {
      const step = readSecondStepCookie(hostCookie(c, SECOND_STEP_COOKIE))
      return c.json(await secondStepOptions(c.var.signIn, step?.mfaToken ?? ''), 200)
    } catch (caught) {
      return refusal(c, caught)
    }
  })
  .post('/sign-in/second-step/passkey', async (c) => {
    try {
      const step = readSecondStepCookie(hostCookie(c, SECOND_STEP_COOKIE))
      const { challenge_id, credential } = readForm(c, assertionForm)
      const grant = await completeSecondStep(c.var.signIn, {
        mfaToken: step?.mfaToken ?? '',
        answer: { kind: 'passkey', challengeId: challenge_id, credential },
      })
      clearHostCookie(c, SECOND_STEP_COOKIE)
      holdBrowserSession(c, grant)
      return c.json({ location: returnToOf(c) }, 200)
    } catch (caught) {
      return refusal(c, caught)
    }
  })
  .post('/account/confirm/passkey/options', async (c) => {
    try {
      return c.json(await reauthenticationOptions(c.var.signIn, c.var.browser!), 200)
    } catch (caught) {
      return refusal(c, caught)
    }
  })
  .post('/account/confirm/passkey', async (c) => {
    try {
      const { challenge_id, credential } = readForm(c, assertionForm)
      await reauthenticateWith(c.var.signIn, c.var.browser!, { passkey: { challengeId: challenge_id, credential } })
      return c.json({ location: confineReturnTo(c.var.form.return_to, c.var.config.appUrl) }, 200)
    } catch (caught) {
      return refusal(c, caught)
    }
  })
  .get('/account/passkeys/new', (c) => respond(c, <AddPasskeyPage c={c} />))
  .post('/account/passkeys/new', (c) =>
    respond(c, <AddPasskeyPage c={c} error="Adding a passkey needs JavaScript: your browser talks to your device for it." />, 400),
  )
  .post('/account/passkeys/options', async (c) => {
    const account = c.var.browser!
    try {
      const { current_password } = readForm(c, passwordForm)
      await requireAddingWayIn(c.var.signIn, account, current_password)
      return c.json(await registrationOptions(c.var.signIn, account), 200)
    } catch (caught) {
      return refusal(c, caught)
    }
  })
  .post('/account/passkeys', async (c) => {
    const account = c.var.browser!
    try {
      const { challenge_id, credential, name } = readForm(c, registrationForm)
      await requireRecentProof(c.var.signIn, account)
      requireVerifiedAddress(account.user)
      const { recoveryCodes } = await registerPasskey(c.var.signIn, account, { challengeId: challenge_id, credential, name })
      return c.json({ location: '/account', recovery_codes: recoveryCodes ?? null }, 201)
    } catch (caught) {
      return refusal(c, caught)
    }
  })
