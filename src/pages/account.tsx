import type { Context } from 'hono'
import { Hono } from 'hono'
import { z } from 'zod'
import type { AppEnv } from '../app-env'
import { needsTwoFactors, secondFactorsOf } from '../db/factors'
import { listIdentities } from '../db/identities'
import { listConsents, revokeConsent } from '../db/oauth-grants'
import { listPasskeys } from '../db/passkeys'
import { endUserSession, listActiveSessions, logout } from '../db/sessions'
import { type ApiError, problem } from '../errors'
import { changeOwnPassword } from '../factors/password'
import { confirmTotp, startTotp } from '../factors/totp'
import { dropBrowserSession } from '../http/browser-session'
import { clearHostCookie } from '../http/cookies'
import { currentPasswordField, newPasswordField } from '../schemas/fields'
import type { SignedIn } from '../sign-in/context'
import { reauthenticateWith } from '../sign-in/reauthenticate'
import { requireAddingWayIn, requireRecentProof } from '../sign-in/recent-proof'
import { readForm } from './forms'
import { Alert, CurrentPassword, Field, Form, Layout } from './layout'
import { fieldError, pageContext, refusalOf, respond, seeOther, statusOf } from './respond'
import { confineReturnTo } from './return-to'
import { FLOW_COOKIES } from './sign-in-answer'

/** The account a signed-in page acts for; only ever called behind requireBrowserSession(). */
const accountOf = (c: Context<AppEnv>): SignedIn => {
  if (!c.var.browser) throw problem('unauthorized')
  return c.var.browser
}

const date = (value: Date | null | undefined) => (value ? `${value.toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'never')

export async function AccountPage(props: { c: Context<AppEnv>; notice?: string; error?: ApiError; section?: 'password' }) {
  const { c, error } = props
  const page = pageContext(c)
  const { user, session } = accountOf(c)
  const { db } = c.var
  const now = c.var.signIn.now
  const [sessions, factors, passkeys, identities, grants] = await Promise.all([
    listActiveSessions(db, user.id, now),
    secondFactorsOf(db, user.id),
    listPasskeys(db, user.id),
    listIdentities(db, user.id),
    listConsents(db, user.id),
  ])
  return (
    <Layout page={page} title="Your account" wide>
      {props.notice && (
        <p class="notice" role="status">
          {props.notice}
        </p>
      )}
      <Alert message={error?.detail} />
      <Form page={page} action="/sign-out">
        <button type="submit" class="secondary">
          Sign out
        </button>
      </Form>

      <h2>Profile</h2>
      <p>{`Username: ${user.username}`}</p>
      <p>{`Email: ${user.email} (${user.emailVerified ? 'confirmed' : 'not confirmed yet'})`}</p>

      <h2>Password</h2>
      {user.passwordHash === null ? (
        <p>This account signs in without a password.</p>
      ) : (
        <Form page={page} action="/account/password">
          <CurrentPassword error={props.section === 'password' ? fieldError(error, 'current_password') : undefined} />
          <Field
            id="new_password"
            label="New password"
            type="password"
            autocomplete="new-password"
            error={props.section === 'password' ? fieldError(error, 'new_password') : undefined}
          />
          <button type="submit">Change password</button>
        </Form>
      )}

      <h2>Sessions</h2>
      <ul class="items">
        {sessions.map((row) => (
          <li>
            {`${row.userAgent ?? 'Unknown device'}${row.holder === 'browser' ? ' (browser)' : ''}, signed in ${date(row.createdAt)}, last used ${date(row.lastUsedAt)}`}
            {row.id === session.id && ' — this session'}{' '}
            <Form page={page} action={`/account/sessions/${row.id}/revoke`}>
              <button type="submit" class="secondary" aria-label={`Revoke the session signed in ${date(row.createdAt)}`}>
                Revoke
              </button>
            </Form>
          </li>
        ))}
      </ul>

      <h2>Authenticator app</h2>
      {factors.totp ? (
        <p>{`An authenticator app is set up. Recovery codes left: ${factors.recoveryCodesLeft}.`}</p>
      ) : (
        <form method="get" action="/account/authenticator-app">
          <p>Add a second step to your sign-in: a 6-digit code from an app on your phone.</p>
          <button type="submit">Set up authenticator app</button>
        </form>
      )}

      <h2>Passkeys</h2>
      {passkeys.length === 0 ? (
        <p>No passkeys yet.</p>
      ) : (
        <ul class="items">
          {passkeys.map((passkey) => (
            <li>{`${passkey.name}, added ${date(passkey.createdAt)}, last used ${date(passkey.lastUsedAt)}`}</li>
          ))}
        </ul>
      )}
      <form method="get" action="/account/passkeys/new">
        <button type="submit">Add a passkey</button>
      </form>

      <h2>Connected accounts</h2>
      {identities.length === 0 ? (
        <p>No accounts of other providers are connected.</p>
      ) : (
        <ul class="items">
          {identities.map((identity) => (
            <li>{`${identity.provider}${identity.email ? ` (${identity.email})` : ''}, connected ${date(identity.createdAt)}`}</li>
          ))}
        </ul>
      )}
      {c.var.config.providers
        .filter((provider) => !identities.some((identity) => identity.provider === provider.id))
        .map((provider) => (
          <form method="get" action={`/account/connect/${encodeURIComponent(provider.id)}`}>
            <button type="submit" class="secondary">{`Connect ${provider.name}`}</button>
          </form>
        ))}

      <h2>Apps with access</h2>
      {grants.length === 0 ? (
        <p>No app has access to your account.</p>
      ) : (
        <ul class="items">
          {grants.map((grant) => (
            <li>
              {`${grant.clientName}: ${grant.scopes.join(', ') || 'no scopes'}; allowed ${date(grant.createdAt)}, last used ${date(grant.lastUsedAt === null ? null : new Date(grant.lastUsedAt))}`}{' '}
              <Form page={page} action={`/account/grants/${encodeURIComponent(grant.clientId)}/revoke`}>
                <button type="submit" class="secondary" aria-label={`Revoke the access of ${grant.clientName}`}>
                  Revoke
                </button>
              </Form>
            </li>
          ))}
        </ul>
      )}
      {needsTwoFactors(factors) && <p class="hint">Your sign-ins need two factors.</p>}
    </Layout>
  )
}

const passwordForm = z.object({ current_password: currentPasswordField, new_password: newPasswordField })
const wayInForm = z.object({ current_password: currentPasswordField })
const activateForm = z.object({ code: z.string().trim().min(1, 'is required').max(16) })
const confirmForm = z.object({
  current_password: currentPasswordField,
  code: z.string().trim().max(16).optional(),
  return_to: z.string().max(2048).optional(),
})

/** A page that asks for the current password before adding a way in (field Current password, button Continue). */
export function PasswordFirstPage(props: { c: Context<AppEnv>; title: string; action: string; intro: string; error?: ApiError }) {
  const page = pageContext(props.c)
  return (
    <Layout page={page} title={props.title}>
      <Alert message={props.error?.detail} />
      <p>{props.intro}</p>
      <Form page={page} action={props.action}>
        <CurrentPassword error={fieldError(props.error, 'current_password')} autofocus />
        <button type="submit">Continue</button>
      </Form>
      <nav class="links">
        <a href="/account">Back to your account</a>
      </nav>
    </Layout>
  )
}

/** The page of its own a stale session is sent to before a sensitive action: a fresh proof, then back. */
/** The ways a signed-in account can prove itself again on the confirm page. */
type ConfirmWays = { password: boolean; totp: boolean; passkey: boolean }

async function confirmWaysOf(c: Context<AppEnv>, account: SignedIn): Promise<ConfirmWays> {
  const factors = await secondFactorsOf(c.var.db, account.user.id)
  return { password: account.user.passwordHash !== null, totp: factors.totp, passkey: factors.passkeys > 0 }
}

function ConfirmPage(props: { c: Context<AppEnv>; returnTo: string; ways: ConfirmWays; error?: ApiError }) {
  const page = pageContext(props.c)
  const { ways } = props
  // With a passkey but no authenticator app, a password alone is not enough: the passkey is the way.
  const byPassword = ways.password && (ways.totp || !ways.passkey)
  return (
    <Layout page={page} title="Confirm it is you" scripts={ways.passkey ? ['passkeys'] : []}>
      <Alert message={props.error?.detail} />
      <p>This change needs a recent sign-in.</p>
      {byPassword && (
        <Form page={page} action="/account/confirm" returnTo={props.returnTo}>
          <CurrentPassword error={fieldError(props.error, 'current_password')} autofocus />
          {ways.totp && (
            <Field
              id="code"
              label="Authentication code"
              autocomplete="one-time-code"
              inputmode="numeric"
              error={fieldError(props.error, 'code')}
            />
          )}
          <button type="submit">Continue</button>
        </Form>
      )}
      {ways.passkey && (
        <button type="button" class={byPassword ? 'secondary' : undefined} id="passkey-confirm" data-return-to={props.returnTo} hidden>
          Use a passkey
        </button>
      )}
    </Layout>
  )
}

function EnrolPage(props: { c: Context<AppEnv>; secret: string; qrSvg: string; error?: ApiError }) {
  const page = pageContext(props.c)
  const qr = `data:image/svg+xml;base64,${btoa(props.qrSvg)}`
  return (
    <Layout page={page} title="Set up your authenticator app">
      <Alert message={props.error?.detail} />
      <p>Scan this code with your authenticator app, or type the secret into it.</p>
      <img class="qr" src={qr} alt="QR code" width="192" height="192" />
      <p>
        Secret: <span class="secret">{props.secret}</span>
      </p>
      <Form page={page} action="/account/authenticator-app/activate">
        <Field
          id="code"
          label="Authentication code"
          autocomplete="one-time-code"
          inputmode="numeric"
          error={fieldError(props.error, 'code')}
          autofocus
        />
        <button type="submit">Activate</button>
      </Form>
    </Layout>
  )
}

function RecoveryCodesPage(props: { c: Context<AppEnv>; codes: string[] }) {
  return (
    <Layout page={pageContext(props.c)} title="Save your recovery codes">
      <p class="notice" role="status">
        Your authenticator app is active. Save these recovery codes somewhere safe: each signs you in once if you lose your phone, and they
        are shown only now.
      </p>
      <ol class="codes">
        {props.codes.map((code) => (
          <li>{code}</li>
        ))}
      </ol>
      <nav class="links">
        <a href="/account">Back to your account</a>
      </nav>
    </Layout>
  )
}

/** Where a stale session goes first: the confirm page, and back to `returnTo` afterwards. */
export const confirmFirst = (c: Context<AppEnv>, returnTo: string) =>
  seeOther(c, `/account/confirm?return_to=${encodeURIComponent(returnTo)}`)

/**
 * GET /account (signed in only) and what its forms do: change the password, revoke a session,
 * set up an authenticator app (current password first, and a fresh proof when the session is
 * stale), and POST /sign-out. Every change goes through the same functions as the JSON API.
 */
export const accountPages = new Hono<AppEnv>()
  .get('/account', async (c) => respond(c, await AccountPage({ c })))
  .post('/account/password', async (c) => {
    const account = accountOf(c)
    try {
      const { current_password, new_password } = readForm(c, passwordForm, {
        field: 'new_password',
        username: account.user.username,
        email: account.user.email,
      })
      await changeOwnPassword(c.var.signIn, account, { currentPassword: current_password, newPassword: new_password })
      return respond(c, await AccountPage({ c, notice: 'Your password is changed, and your other sessions have ended.' }))
    } catch (caught) {
      const error = refusalOf(c, caught)
      if (error.code === 'reauthentication_required') return confirmFirst(c, '/account')
      return respond(c, await AccountPage({ c, error, section: 'password' }), statusOf(error))
    }
  })
  .post('/account/sessions/:id/revoke', async (c) => {
    const { user, session } = accountOf(c)
    const id = c.req.param('id')
    const ended = await endUserSession(c.var.db, { userId: user.id, sessionId: id, client: c.var.client, now: c.var.signIn.now })
    if (!ended) return respond(c, await AccountPage({ c, error: problem('not_found') }), 404)
    if (id === session.id) {
      dropBrowserSession(c)
      return seeOther(c, '/sign-in')
    }
    return respond(c, await AccountPage({ c, notice: 'The session is revoked.' }))
  })
  .post('/account/grants/:clientId/revoke', async (c) => {
    const { user } = accountOf(c)
    const revoked = await revokeConsent(c.var.db, {
      userId: user.id,
      clientId: c.req.param('clientId'),
      client: c.var.client,
      now: c.var.signIn.now,
    })
    if (!revoked) return respond(c, await AccountPage({ c, error: problem('not_found') }), 404)
    return respond(c, await AccountPage({ c, notice: 'The app no longer has access to your account.' }))
  })
  .get('/account/authenticator-app', (c) =>
    respond(
      c,
      <PasswordFirstPage
        c={c}
        title="Set up an authenticator app"
        action="/account/authenticator-app"
        intro="Adding a way to sign in needs your current password."
      />,
    ),
  )
  .post('/account/authenticator-app', async (c) => {
    const account = accountOf(c)
    try {
      const { current_password } = readForm(c, wayInForm)
      await requireAddingWayIn(c.var.signIn, account, current_password)
      const started = await startTotp(c.var.signIn, account)
      return respond(c, <EnrolPage c={c} secret={started.secret} qrSvg={started.qr_svg} />)
    } catch (caught) {
      const error = refusalOf(c, caught)
      if (error.code === 'reauthentication_required') return confirmFirst(c, '/account/authenticator-app')
      return respond(
        c,
        <PasswordFirstPage
          c={c}
          title="Set up an authenticator app"
          action="/account/authenticator-app"
          intro="Adding a way to sign in needs your current password."
          error={error}
        />,
        statusOf(error),
      )
    }
  })
  .post('/account/authenticator-app/activate', async (c) => {
    const account = accountOf(c)
    try {
      const { code } = readForm(c, activateForm)
      // As POST /users/me/mfa/totp/confirm: activating a factor needs a recent proof too.
      await requireRecentProof(c.var.signIn, account)
      const codes = await confirmTotp(c.var.signIn, account, code)
      return respond(c, <RecoveryCodesPage c={c} codes={codes} />)
    } catch (caught) {
      const error = refusalOf(c, caught)
      if (error.code === 'reauthentication_required') return confirmFirst(c, '/account/authenticator-app')
      return respond(c, await AccountPage({ c, error }), statusOf(error))
    }
  })
  .get('/account/confirm', async (c) => {
    const ways = await confirmWaysOf(c, accountOf(c))
    return respond(c, <ConfirmPage c={c} returnTo={confineReturnTo(c.req.query('return_to'), c.var.config.appUrl)} ways={ways} />)
  })
  .post('/account/confirm', async (c) => {
    const account = accountOf(c)
    const returnTo = confineReturnTo(c.var.form.return_to, c.var.config.appUrl)
    const ways = await confirmWaysOf(c, account)
    try {
      const { current_password, code } = readForm(c, confirmForm)
      await reauthenticateWith(c.var.signIn, account, {
        password: current_password,
        ...(code ? { secondFactor: { kind: 'totp' as const, code } } : {}),
      })
      return seeOther(c, returnTo)
    } catch (caught) {
      const error = refusalOf(c, caught)
      return respond(c, <ConfirmPage c={c} returnTo={returnTo} ways={ways} error={error} />, statusOf(error))
    }
  })

/** POST /sign-out: ends the browser's session (audited as any logout) and forgets its cookie. */
export const signOutPage = new Hono<AppEnv>().post('/sign-out', async (c) => {
  const account = c.var.browser
  if (account) {
    await logout(c.var.db, {
      sessionId: account.session.id,
      userId: account.user.id,
      refreshToken: undefined,
      client: c.var.client,
      now: c.var.signIn.now,
    })
  }
  dropBrowserSession(c)
  // And whatever a flow left behind: on a shared device the next person starts clean.
  for (const name of FLOW_COOKIES) clearHostCookie(c, name)
  return seeOther(c, '/sign-in')
})
