import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, inject, it, vi } from 'vitest'
import {
  GITHUB_CLIENT_ID,
  GITHUB_CLIENT_SECRET,
  IDP_CLIENT_ID,
  IDP_CLIENT_SECRET,
  IDP_EMAIL_DOMAIN,
  signInAtProvider,
} from '../scripts/lib/identity-provider'
import {
  adminCall,
  asAdmin,
  call,
  claimsOf,
  expectProblem,
  failingFields,
  newAccount,
  secretOf,
  signedIn,
  type TokenPair,
  totpFor,
  verifiedSignedIn,
  withTotp,
} from './helpers'

/*
 * Sign-in with another provider against a real OpenID provider (panva's oidc-provider, started by
 * test/global-setup.ts): the whole redirect flow, through HTTP, with the browser's cookies.
 */

afterEach(() => {
  vi.useRealTimers()
})

const issuer = inject('idpIssuer')
const githubBase = inject('githubBase')
/** The app's own origin (APP_URL): a front end apart from this worker, as the provider flows' tests play it. */
const APP = 'http://localhost:5173'
const REDIRECT = `${APP}/signed-in`

/** The providers as an operator configures them: the local provider, and two misconfigured on purpose. */
const PROVIDERS = {
  APP_URL: APP,
  OAUTH_PROVIDERS: JSON.stringify([
    { id: 'idp', type: 'oidc', issuer, client_id: IDP_CLIENT_ID, name: 'Local IdP' },
    { id: 'idp-es', type: 'oidc', issuer, client_id: IDP_CLIENT_ID, id_token_alg: 'ES256' },
    { id: 'idp-bad', type: 'oidc', issuer, client_id: IDP_CLIENT_ID },
    { id: 'gh', type: 'github', issuer: githubBase, client_id: GITHUB_CLIENT_ID, name: 'GitHub' },
  ]),
  OAUTH_CLIENT_SECRETS: JSON.stringify({
    idp: IDP_CLIENT_SECRET,
    'idp-es': IDP_CLIENT_SECRET,
    'idp-bad': 'not-the-secret',
    gh: GITHUB_CLIENT_SECRET,
  }),
}

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')

async function pkce() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)))
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))))
  return { verifier, challenge }
}

const flowCookie = (response: Response) =>
  response.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .join('; ')

/** Our authorize redirect: where it sends the browser, and the cookie it gives it. */
async function authorize(provider = 'idp', redirectUri = REDIRECT) {
  const { verifier, challenge } = await pkce()
  const query = new URLSearchParams({ redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: 'S256' })
  const response = await call(`/oauth/${provider}/authorize?${query}`, { env: PROVIDERS })
  expect(response.status, await response.clone().text()).toBe(302)
  return { location: response.headers.get('location') ?? '', cookie: flowCookie(response), verifier }
}

/** What the app's page receives in its fragment after the whole redirect flow. */
async function providerRedirect(login: string, provider = 'idp') {
  const started = await authorize(provider)
  const callback = await signInAtProvider(started.location, login)
  const response = await call(callback, { env: PROVIDERS, headers: { cookie: started.cookie } })
  expect(response.status, await response.clone().text()).toBe(302)
  const location = response.headers.get('location') ?? ''
  expect(location.startsWith(`${REDIRECT}#`)).toBe(true)
  return { fragment: new URLSearchParams(location.split('#')[1]), verifier: started.verifier, callback, cookie: started.cookie }
}

function exchange(code: string, verifier: string) {
  return call('/users/oauth/token', { json: { code, code_verifier: verifier }, env: PROVIDERS })
}

/** A whole provider sign-in as `login`, ending in the token exchange's answer. */
async function providerSignIn(login: string) {
  const { fragment, verifier } = await providerRedirect(login)
  expect(fragment.get('error')).toBeNull()
  return exchange(fragment.get('code') ?? '', verifier)
}

const uniqueLogin = (prefix = 'p') => `${prefix}${crypto.randomUUID().slice(0, 8)}`

async function auditOf(userId: string) {
  const rows = await env.DB.prepare('SELECT action, details FROM audit_events WHERE target_id = ? ORDER BY id').bind(userId).all<{
    action: string
    details: string | null
  }>()
  return rows.results
}

const identitiesOf = async (userId: string) =>
  (await env.DB.prepare('SELECT count(*) AS n FROM identities WHERE user_id = ?').bind(userId).first<{ n: number }>())?.n

const verifyAddress = (userId: string) => env.DB.prepare('UPDATE users SET email_verified = 1 WHERE id = ?').bind(userId).run()

describe('providers', () => {
  it('lists the configured providers without their secrets', async () => {
    const response = await call('/oauth/providers', { env: PROVIDERS })
    const body = (await response.json()) as { providers: Record<string, string>[] }
    expect(body.providers[0]).toEqual({ id: 'idp', name: 'Local IdP', type: 'oidc' })
    expect(JSON.stringify(body)).not.toContain(IDP_CLIENT_SECRET)
  })

  it('refuses a configuration with bad JSON, a missing secret or an http issuer off localhost, naming the variable', async () => {
    for (const [bindings, name] of [
      [{ OAUTH_PROVIDERS: '[{' }, 'OAUTH_PROVIDERS'],
      [{ OAUTH_PROVIDERS: JSON.stringify([{ id: 'x', type: 'oidc', issuer: 'http://idp.example', client_id: 'c' }]) }, 'OAUTH_PROVIDERS'],
      [
        { OAUTH_PROVIDERS: JSON.stringify([{ id: 'x', type: 'oidc', issuer: 'https://idp.example', client_id: 'c' }]) },
        'OAUTH_CLIENT_SECRETS',
      ],
    ] as const) {
      const problem = await expectProblem(await call('/health', { env: bindings }), 503, 'unavailable')
      expect(problem.detail).toContain(name)
    }
  })
})

describe('sign-in with an OpenID provider', () => {
  it('creates an account for a new person: no password, the address verified as the provider says, amr fed', async () => {
    const login = uniqueLogin()
    const pair = (await (await providerSignIn(login)).json()) as TokenPair
    expect(pair.user).toMatchObject({ username: login, email: `${login}@${IDP_EMAIL_DOMAIN}`, email_verified: true })
    expect(claimsOf(pair.access_token)).toMatchObject({ aal: 'aal1', amr: ['fed'] })
    const stored = await env.DB.prepare('SELECT password_hash FROM users WHERE id = ?').bind(pair.user.id).first<{ password_hash: null }>()
    expect(stored?.password_hash).toBeNull()
    const identities = (await (await call('/users/me/identities', { token: pair.access_token })).json()) as {
      identities: { provider: string; email: string }[]
    }
    expect(identities.identities).toMatchObject([{ provider: 'idp', email: `${login}@${IDP_EMAIL_DOMAIN}` }])
  })

  it('brings the same provider identity back to the same account', async () => {
    const login = uniqueLogin()
    const first = (await (await providerSignIn(login)).json()) as TokenPair
    const second = (await (await providerSignIn(login)).json()) as TokenPair
    expect(second.user.id).toBe(first.user.id)
    const count = await env.DB.prepare('SELECT count(*) AS n FROM users WHERE email = ?')
      .bind(`${login}@${IDP_EMAIL_DOMAIN}`)
      .first<{ n: number }>()
    expect(count?.n).toBe(1)
  })

  it('links an account whose address is verified here when the provider vouches for it too', async () => {
    const login = uniqueLogin()
    const { user } = await signedIn({ email: `${login}@${IDP_EMAIL_DOMAIN}` })
    await verifyAddress(user.id)
    const pair = (await (await providerSignIn(login)).json()) as TokenPair
    expect(pair.user.id).toBe(user.id)
    expect((await auditOf(user.id)).map((row) => row.action)).toContain('user.identity_linked')
  })

  it('refuses with account_exists when the address is unverified here, and links nothing (pre-registration takeover)', async () => {
    const login = uniqueLogin()
    const { user } = await signedIn({ email: `${login}@${IDP_EMAIL_DOMAIN}` })
    const { fragment } = await providerRedirect(login)
    expect(fragment.get('error')).toBe('account_exists')
    expect(fragment.get('code')).toBeNull()
    const linked = await env.DB.prepare('SELECT count(*) AS n FROM identities WHERE user_id = ?').bind(user.id).first<{ n: number }>()
    expect(linked?.n).toBe(0)
  })

  it('refuses with account_exists when the provider does not vouch for an address an account holds verified', async () => {
    const login = uniqueLogin('unverified')
    const { user } = await signedIn({ email: `${login}@${IDP_EMAIL_DOMAIN}` })
    await verifyAddress(user.id)
    const { fragment } = await providerRedirect(login)
    expect(fragment.get('error')).toBe('account_exists')
  })

  it('never creates an account for an address the provider does not vouch for: email_not_verified, and nothing is written', async () => {
    for (const required of ['false', 'true']) {
      const login = uniqueLogin('unverified')
      const email = `${login}@${IDP_EMAIL_DOMAIN}`
      const started = await authorize()
      const callback = await signInAtProvider(started.location, login)
      const bindings = { ...PROVIDERS, EMAIL_VERIFICATION_REQUIRED: required }
      const response = await call(callback, { env: bindings, headers: { cookie: started.cookie } })
      expect(new URLSearchParams((response.headers.get('location') ?? '').split('#')[1]).get('error')).toBe('email_not_verified')
      const written = await env.DB.prepare(
        'SELECT (SELECT count(*) FROM users WHERE email = ?) AS users, (SELECT count(*) FROM identities WHERE email = ?) AS identities',
      )
        .bind(email, email)
        .first<{ users: number; identities: number }>()
      expect(written).toEqual({ users: 0, identities: 0 })
      // The address's owner signs up with it as if the attempt never happened.
      expect((await call('/users/signup', { json: newAccount({ email }) })).status).toBe(201)
    }
  })

  it('gives an address the provider never vouched for nothing that survives its owner (a pre-account takeover, replayed)', async () => {
    // The attacker signs in with a provider that does not vouch for the victim's address: before
    // this rule an unverified account was made with the attacker's identity in it, the victim's
    // signup met email_taken, the victim reset through their mailbox, and the attacker's next
    // provider sign-in landed in the victim's account.
    const login = uniqueLogin('unverified')
    const email = `${login}@${IDP_EMAIL_DOMAIN}`
    expect((await providerRedirect(login)).fragment.get('error')).toBe('email_not_verified')
    const { user } = await verifiedSignedIn({ email })
    const again = await providerRedirect(login)
    expect(again.fragment.get('error')).toBe('account_exists')
    expect(await identitiesOf(user.id)).toBe(0)
  })

  it('still asks an account with TOTP for its code, and the second step gives amr fed otp mfa', async () => {
    const login = uniqueLogin()
    const { user, secret } = await withTotp({ email: `${login}@${IDP_EMAIL_DOMAIN}` })
    await verifyAddress(user.id)
    const answer = await providerSignIn(login)
    const problem = (await expectProblem(answer, 403, 'mfa_required')) as unknown as { mfa_token: string; methods: string[] }
    expect(problem.methods).toContain('totp')
    const finished = await call('/users/login/mfa', {
      json: { mfa_token: problem.mfa_token, code: await totpFor(secret, Date.now() + 30_000) },
    })
    const pair = (await finished.json()) as TokenPair
    expect(finished.status).toBe(200)
    expect(claimsOf(pair.access_token)).toMatchObject({ aal: 'aal2', amr: ['fed', 'otp', 'mfa'] })
  })

  it('asks an account made by the provider (no password) for the TOTP code it enrolled since, and then signs it in', async () => {
    const login = uniqueLogin()
    const pair = (await (await providerSignIn(login)).json()) as TokenPair
    // No password to send: the account has none.
    const started = await call('/users/me/mfa/totp', { token: pair.access_token, json: {} })
    const { otpauth_uri } = (await started.json()) as { otpauth_uri: string }
    const secret = secretOf(otpauth_uri)
    expect((await call('/users/me/mfa/totp/confirm', { token: pair.access_token, json: { code: await totpFor(secret) } })).status).toBe(200)
    const problem = (await expectProblem(await providerSignIn(login), 403, 'mfa_required')) as unknown as { mfa_token: string }
    const finished = await call('/users/login/mfa', {
      json: { mfa_token: problem.mfa_token, code: await totpFor(secret, Date.now() + 30_000) },
    })
    expect(finished.status, await finished.clone().text()).toBe(200)
    expect(claimsOf(((await finished.json()) as TokenPair).access_token)).toMatchObject({ amr: ['fed', 'otp', 'mfa'] })
  })

  it('answers account_disabled for a disabled account, in the fragment', async () => {
    const login = uniqueLogin()
    const pair = (await (await providerSignIn(login)).json()) as TokenPair
    const admin = await asAdmin()
    await adminCall(admin.token, `/users/${pair.user.id}`, { method: 'PATCH', json: { disabled: true } })
    const { fragment } = await providerRedirect(login)
    expect(fragment.get('error')).toBe('account_disabled')
  })
})

describe('what the flow refuses', () => {
  it('refuses a replayed state, a state without its browser cookie and a forged state with invalid_challenge', async () => {
    const { callback, cookie } = await providerRedirect(uniqueLogin())
    await expectProblem(await call(callback, { env: PROVIDERS, headers: { cookie } }), 400, 'invalid_challenge')

    const started = await authorize()
    const fresh = await signInAtProvider(started.location, uniqueLogin())
    await expectProblem(await call(fresh, { env: PROVIDERS }), 400, 'invalid_challenge')
    await expectProblem(
      await call(fresh, {
        env: PROVIDERS,
        headers: { cookie: started.cookie.replace(/=.*/, '=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA') },
      }),
      400,
      'invalid_challenge',
    )
    const forged = new URL(fresh)
    forged.searchParams.set('state', 'forged-state')
    await expectProblem(await call(forged.href, { env: PROVIDERS, headers: { cookie: started.cookie } }), 400, 'invalid_challenge')
  })

  it('takes the flow cookie over HTTPS only with its __Host- prefix, so a sibling domain cannot toss in its own', async () => {
    const started = await authorize()
    expect(started.cookie).toMatch(/^__Host-edge-users-oauth=/)
    const callback = await signInAtProvider(started.location, uniqueLogin())
    const tossed = started.cookie.replace('__Host-', '')
    await expectProblem(await call(callback, { env: PROVIDERS, headers: { cookie: tossed } }), 400, 'invalid_challenge')
  })

  it('refuses a redirect_uri outside APP_URL (or the pages’ own landings) and a PKCE method other than S256', async () => {
    const { challenge } = await pkce()
    for (const query of [
      { redirect_uri: 'https://evil.example/cb', code_challenge: challenge, code_challenge_method: 'S256' },
      { redirect_uri: 'http://localhost:5173.evil.example/cb', code_challenge: challenge, code_challenge_method: 'S256' },
      { redirect_uri: `${APP}/cb#x`, code_challenge: challenge, code_challenge_method: 'S256' },
      // On this worker's own origin only the pages' two landings may take a code: a page that
      // redirects (sign-in's return_to) would carry the fragment on.
      {
        redirect_uri: 'http://localhost:8787/sign-in?return_to=/.//evil.example',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      },
      { redirect_uri: 'http://localhost:8787/account', code_challenge: challenge, code_challenge_method: 'S256' },
      { redirect_uri: 'http://localhost:8787/sign-in/provider?x=1', code_challenge: challenge, code_challenge_method: 'S256' },
      { redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'plain' },
      { redirect_uri: REDIRECT },
    ] as Record<string, string>[]) {
      const response = await call(`/oauth/idp/authorize?${new URLSearchParams(query)}`, { env: PROVIDERS })
      await expectProblem(response, 400, 'validation_failed')
    }
    await expectProblem(
      await call(
        `/oauth/nobody/authorize?${new URLSearchParams({ redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256' })}`,
        { env: PROVIDERS },
      ),
      404,
      'not_found',
    )
  })

  it('exchanges a code once, and only with the verifier of its challenge', async () => {
    const first = await providerRedirect(uniqueLogin())
    const code = first.fragment.get('code') ?? ''
    const other = await pkce()
    await expectProblem(await exchange(code, other.verifier), 400, 'invalid_challenge')
    // The wrong verifier spent it.
    await expectProblem(await exchange(code, first.verifier), 400, 'invalid_challenge')
    const second = await providerRedirect(uniqueLogin())
    expect((await exchange(second.fragment.get('code') ?? '', second.verifier)).status).toBe(200)
    await expectProblem(await exchange(second.fragment.get('code') ?? '', second.verifier), 400, 'invalid_challenge')
  })

  it('lets a flow live 10 minutes and the app code 60 seconds', async () => {
    const late = await authorize()
    const callback = await signInAtProvider(late.location, uniqueLogin())
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 601_000)
    await expectProblem(await call(callback, { env: PROVIDERS, headers: { cookie: late.cookie } }), 400, 'invalid_challenge')
    vi.useRealTimers()

    const { fragment, verifier } = await providerRedirect(uniqueLogin())
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 61_000)
    await expectProblem(await exchange(fragment.get('code') ?? '', verifier), 400, 'invalid_challenge')
  })

  it('answers provider_failed, creating nothing, when the ID token is not signed with the registered algorithm', async () => {
    const login = uniqueLogin()
    const { fragment } = await providerRedirect(login, 'idp-es')
    expect(fragment.get('error')).toBe('provider_failed')
    const made = await env.DB.prepare('SELECT count(*) AS n FROM users WHERE email = ?')
      .bind(`${login}@${IDP_EMAIL_DOMAIN}`)
      .first<{ n: number }>()
    expect(made?.n).toBe(0)
  })

  it('answers provider_failed when the provider refuses the code exchange (a wrong client secret)', async () => {
    const { fragment } = await providerRedirect(uniqueLogin(), 'idp-bad')
    expect(fragment.get('error')).toBe('provider_failed')
  })
})

describe('sign-in with GitHub (a local stand-in of its OAuth endpoints)', () => {
  /** GitHub's sign-in page is stood in for by a `login` parameter on its authorize URL. */
  async function githubRedirect(login: string) {
    const started = await authorize('gh')
    const location = new URL(started.location)
    expect(location.pathname).toBe('/login/oauth/authorize')
    expect(location.searchParams.get('code_challenge_method')).toBe('S256')
    location.searchParams.set('login', login)
    const callback = (await fetch(location.href, { redirect: 'manual' })).headers.get('location') ?? ''
    const response = await call(callback, { env: PROVIDERS, headers: { cookie: started.cookie } })
    return { fragment: new URLSearchParams((response.headers.get('location') ?? '').split('#')[1]), verifier: started.verifier }
  }

  it('signs in with the verified primary address from the emails API, and the same GitHub user returns', async () => {
    const login = uniqueLogin('octo')
    const first = await githubRedirect(login)
    const pair = (await (await exchange(first.fragment.get('code') ?? '', first.verifier)).json()) as TokenPair
    expect(pair.user).toMatchObject({ username: login, email: `${login}@github.${IDP_EMAIL_DOMAIN}`, email_verified: true })
    const again = await githubRedirect(login)
    const second = (await (await exchange(again.fragment.get('code') ?? '', again.verifier)).json()) as TokenPair
    expect(second.user.id).toBe(pair.user.id)
  })

  it('does not vouch for an unverified primary address', async () => {
    const login = uniqueLogin('unverified')
    const { user } = await signedIn({ email: `${login}@github.${IDP_EMAIL_DOMAIN}` })
    await verifyAddress(user.id)
    const { fragment } = await githubRedirect(login)
    expect(fragment.get('error')).toBe('account_exists')
  })
})

describe('linked identities', () => {
  /** Starts a link for a signed-in account (PKCE and its password): the body of the answer. */
  async function startLink(who: { token: string; password?: string }, challenge: string) {
    return call('/users/me/identities/idp/authorize', {
      token: who.token,
      json: { redirect_uri: REDIRECT, code_challenge: challenge, code_challenge_method: 'S256', password: who.password },
      env: PROVIDERS,
    })
  }

  /**
   * A link started by `starter`, whose authorize URL is opened by a browser that signs in at the
   * provider as `login` (the starter's own, or a victim's who was sent the URL): the fragment it
   * lands on, and the starter's PKCE verifier.
   */
  async function linkRedirect(starter: { token: string; password?: string }, login: string) {
    const { verifier, challenge } = await pkce()
    const started = await startLink(starter, challenge)
    expect(started.status, await started.clone().text()).toBe(200)
    const { authorize_url } = (await started.json()) as { authorize_url: string }
    const opened = await call(authorize_url, { env: PROVIDERS })
    expect(opened.status).toBe(302)
    const callback = await signInAtProvider(opened.headers.get('location') ?? '', login)
    const done = await call(callback, { env: PROVIDERS, headers: { cookie: flowCookie(opened) } })
    const location = done.headers.get('location') ?? ''
    expect(location.startsWith(`${REDIRECT}#`), location).toBe(true)
    return { fragment: new URLSearchParams(location.split('#')[1]), verifier }
  }

  const completeLink = (token: string, code: string, verifier: string) =>
    call('/users/me/identities/idp/complete', { token, json: { code, code_verifier: verifier }, env: PROVIDERS })

  async function owner() {
    const { account, user, tokens } = await verifiedSignedIn()
    return { user, token: tokens.access_token, password: account.password }
  }

  it('links a provider identity only when the account that started it completes it, lists it, and unlinks it while a password remains', async () => {
    const me = await owner()
    const { fragment, verifier } = await linkRedirect(me, uniqueLogin())
    expect(fragment.get('error')).toBeNull()
    // The callback links nothing.
    expect(await identitiesOf(me.user.id)).toBe(0)
    const completed = await completeLink(me.token, fragment.get('link_code') ?? '', verifier)
    expect(completed.status, await completed.clone().text()).toBe(200)
    const { identity } = (await completed.json()) as { identity: { id: string; provider: string } }
    expect(identity.provider).toBe('idp')
    const { identities } = (await (await call('/users/me/identities', { token: me.token })).json()) as {
      identities: { id: string }[]
    }
    expect(identities.map((row) => row.id)).toEqual([identity.id])
    expect((await auditOf(me.user.id)).map((row) => row.action)).toContain('user.identity_linked')
    await expectProblem(await completeLink(me.token, fragment.get('link_code') ?? '', verifier), 400, 'invalid_challenge')
    const removed = await call(`/users/me/identities/${identity.id}`, { method: 'DELETE', token: me.token })
    expect(removed.status).toBe(204)
  })

  it('never links a victim who opens an attacker’s link URL to the attacker’s account (login CSRF)', async () => {
    const attacker = await owner()
    const victim = await owner()
    const victimLogin = uniqueLogin()
    // The victim's browser opens the attacker's URL while signed in at the provider as themselves.
    const { fragment, verifier } = await linkRedirect(attacker, victimLogin)
    const code = fragment.get('link_code') ?? ''
    expect(await identitiesOf(attacker.user.id)).toBe(0)
    // The victim's app, signed in as the victim, cannot complete the attacker's link...
    await expectProblem(await completeLink(victim.token, code, verifier), 400, 'invalid_challenge')
    // ... and the refused attempt spent the code, so a leaked code is worth nothing to the attacker.
    await expectProblem(await completeLink(attacker.token, code, verifier), 400, 'invalid_challenge')
    expect(await identitiesOf(attacker.user.id)).toBe(0)
    expect(await identitiesOf(victim.user.id)).toBe(0)
    const refusals = (await auditOf(victim.user.id)).filter((row) => row.action === 'user.reauth_failed')
    expect(refusals.map((row) => JSON.parse(row.details ?? '{}').reason)).toEqual(['invalid_link_code'])
  })

  it('completes a link only with the verifier of its challenge, once', async () => {
    const me = await owner()
    const { fragment } = await linkRedirect(me, uniqueLogin())
    const code = fragment.get('link_code') ?? ''
    await expectProblem(await completeLink(me.token, code, (await pkce()).verifier), 400, 'invalid_challenge')
    expect(await identitiesOf(me.user.id)).toBe(0)
  })

  it('needs a verified address, the current password and a PKCE challenge to start a link', async () => {
    const { challenge } = await pkce()
    const { account, tokens } = await signedIn()
    await expectProblem(await startLink({ token: tokens.access_token, password: account.password }, challenge), 403, 'email_not_verified')
    const me = await owner()
    await expectProblem(await startLink({ token: me.token, password: 'not-the-password-at-all' }, challenge), 403, 'invalid_password')
    expect(await failingFields(await startLink({ token: me.token }, challenge))).toEqual(['password'])
    expect(await failingFields(await startLink(me, 'plain-challenge'))).toEqual(['code_challenge'])
    const failed = (await auditOf(me.user.id)).filter((row) => row.action === 'user.reauth_failed')
    expect(failed.map((row) => JSON.parse(row.details ?? '{}'))).toEqual([{ purpose: 'adding_way_in', method: 'password' }])
  })

  it('answers account_exists in the fragment when the identity is linked to another account, and gives no code', async () => {
    const login = uniqueLogin()
    await providerSignIn(login)
    const me = await owner()
    const { fragment } = await linkRedirect(me, login)
    expect(fragment.get('error')).toBe('account_exists')
    expect(fragment.get('link_code')).toBeNull()
  })

  it('refuses to unlink the last way to sign in with last_sign_in_method', async () => {
    const pair = (await (await providerSignIn(uniqueLogin())).json()) as TokenPair
    const { identities } = (await (await call('/users/me/identities', { token: pair.access_token })).json()) as {
      identities: { id: string }[]
    }
    await expectProblem(
      await call(`/users/me/identities/${identities[0]?.id}`, { method: 'DELETE', token: pair.access_token }),
      409,
      'last_sign_in_method',
    )
  })

  it('opens a link ticket once', async () => {
    const me = await owner()
    const started = await startLink(me, (await pkce()).challenge)
    const { authorize_url } = (await started.json()) as { authorize_url: string }
    expect((await call(authorize_url, { env: PROVIDERS })).status).toBe(302)
    await expectProblem(await call(authorize_url, { env: PROVIDERS }), 400, 'invalid_challenge')
  })
})
