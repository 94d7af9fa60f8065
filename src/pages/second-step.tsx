import type { Context } from 'hono'
import { Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../app-env'
import type { ApiError } from '../errors'
import { holdBrowserSession } from '../http/browser-session'
import { clearHostCookie, hostCookie } from '../http/cookies'
import { completeSecondStep, type SecondStepAnswer } from '../sign-in/second-step'
import { readForm } from './forms'
import { Alert, Field, Form, Layout } from './layout'
import { fieldError, pageContext, refusalOf, respond, returnToOf, seeOther, statusOf } from './respond'
import { readSecondStepCookie, SECOND_STEP_COOKIE } from './sign-in-answer'

const codeForm = z.object({ code: z.string().trim().min(1, 'is required').max(16) })
const recoveryForm = z.object({ recovery_code: z.string().trim().min(1, 'is required').max(64) })

type Method = 'totp' | 'recovery_code'

function SecondStepPage(props: {
  c: Context<AppEnv>
  returnTo: string
  method: Method
  methods: string[]
  error?: ApiError
  dead?: boolean
}) {
  const { c, returnTo, method, methods, error } = props
  const page = pageContext(c)
  const back = `return_to=${encodeURIComponent(returnTo)}`
  const action = `/sign-in/second-step?${back}`
  return (
    <Layout page={page} title="Confirm it is you" scripts={methods.includes('passkey') ? ['passkeys'] : []}>
      <Alert message={error?.detail} />
      {props.dead ? (
        <p>
          <a href={`/sign-in?${back}`}>Sign in again</a>
        </p>
      ) : method === 'recovery_code' ? (
        <>
          <p>Enter one of the recovery codes you saved when you set up your second factor. Each works once.</p>
          <Form page={page} action={action} returnTo={returnTo}>
            <Field id="recovery_code" label="Recovery code" autocomplete="off" error={fieldError(error, 'recovery_code')} autofocus />
            <button type="submit">Verify</button>
          </Form>
          {methods.includes('totp') && (
            <p>
              <a href={`/sign-in/second-step?${back}`}>Use an authentication code</a>
            </p>
          )}
        </>
      ) : (
        <>
          <p>Enter the 6-digit code your authenticator app shows.</p>
          <Form page={page} action={action} returnTo={returnTo}>
            <Field
              id="code"
              label="Authentication code"
              autocomplete="one-time-code"
              inputmode="numeric"
              error={fieldError(error, 'code')}
              autofocus
            />
            <button type="submit">Verify</button>
          </Form>
          <p>
            <a href={`/sign-in/second-step?method=recovery_code&${back}`}>Use a recovery code</a>
          </p>
        </>
      )}
      {!props.dead && methods.includes('passkey') && (
        <button type="button" class="secondary" id="passkey-second-step" data-return-to={returnTo} hidden>
          Use a passkey
        </button>
      )}
    </Layout>
  )
}

const methodOf = (value: string | undefined, methods: string[]): Method =>
  value === 'recovery_code' || !methods.includes('totp') ? 'recovery_code' : 'totp'

/**
 * GET /sign-in/second-step and its POST: the second proof for the step the browser's cookie
 * holds, through the same pipeline as POST /users/login/mfa (its attempts, backoff and audit).
 */
export const secondStepPage = new Hono<AppEnv>()
  .get('/sign-in/second-step', (c) => {
    const returnTo = returnToOf(c)
    const step = readSecondStepCookie(hostCookie(c, SECOND_STEP_COOKIE))
    if (!step) return c.redirect(`/sign-in?return_to=${encodeURIComponent(returnTo)}`, 303)
    const method = methodOf(c.req.query('method'), step.methods)
    return respond(c, <SecondStepPage c={c} returnTo={returnTo} method={method} methods={step.methods} />)
  })
  .post('/sign-in/second-step', async (c) => {
    const returnTo = returnToOf(c)
    const step = readSecondStepCookie(hostCookie(c, SECOND_STEP_COOKIE))
    if (!step) return seeOther(c, `/sign-in?return_to=${encodeURIComponent(returnTo)}`)
    const method: Method = c.var.form.recovery_code !== undefined ? 'recovery_code' : 'totp'
    try {
      const answer: SecondStepAnswer =
        method === 'recovery_code'
          ? { kind: 'recovery_code', code: readForm(c, recoveryForm).recovery_code }
          : { kind: 'totp', code: readForm(c, codeForm).code }
      const grant = await completeSecondStep(c.var.signIn, { mfaToken: step.mfaToken, answer })
      clearHostCookie(c, SECOND_STEP_COOKIE)
      holdBrowserSession(c, grant)
      return seeOther(c, returnTo)
    } catch (caught) {
      const error = refusalOf(c, caught)
      const dead = error.code === 'invalid_mfa_token'
      if (dead) clearHostCookie(c, SECOND_STEP_COOKIE)
      return respond(
        c,
        <SecondStepPage c={c} returnTo={returnTo} method={method} methods={step.methods} error={error} dead={dead} />,
        statusOf(error),
      )
    }
  })
