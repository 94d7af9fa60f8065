/**
 * The API's endpoints as the benchmark drives them, each with the credentials and accounts it
 * needs, and the pools of single-use credentials kept per database between passes.
 */
import { BENCH_PASSWORD, benchUsername } from './database.ts'
import type { Deployment } from './deploy.ts'
import type { RequestSpec } from './load.ts'
import { oauthEndpoints } from './oauth.ts'
import type { EndpointName } from './options.ts'
import { passkeySignIns } from './passkey.ts'
import { secondStepLogins } from './second-step.ts'

type Endpoint = { name: EndpointName; spec: RequestSpec }

async function post(baseUrl: string, path: string, body: unknown, token?: string) {
  const response = await fetch(`${baseUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  })
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`)
  return response.json() as Promise<{ access_token: string; refresh_token: string }>
}

/** A CSRF token as a browser's cookie and form carry it (any 43 base64url characters the two agree on). */
const PAGE_CSRF = 'bench-csrf-token-0123456789abcdefghijklmnop'

const loginAs = (baseUrl: string, i: number) => post(baseUrl, '/users/login', { username: benchUsername(i), password: BENCH_PASSWORD })

/**
 * Accounts the login endpoint leaves alone, at the top of the table: re-authentication's (each
 * request the next account's, so no account's streak sees attempts at once) and above them, at
 * the very top, the accounts the second step enrols in TOTP (whose logins stop at mfa_required).
 */
const REAUTH_ACCOUNTS = 64
/** Below the re-authentication's: the accounts that register a passkey (their logins would ask for a second step). */
const PASSKEY_ACCOUNTS = 16
const totpAccountsOf = (users: number) => Math.min(1000, Math.floor(users / 4))
const reservedAccountsOf = (users: number) => PASSKEY_ACCOUNTS + REAUTH_ACCOUNTS + totpAccountsOf(users)

/** The pools of single-use credentials, per database, kept for the whole run (created by main, passed down). */
export type EndpointPools = {
  /** The passkey accounts and their pooled assertions, per database (the rows pass serves it again). */
  passkeys: Map<string, { serving: { url: string }; signIns: ReturnType<typeof passkeySignIns> }>
  /**
   * The TOTP accounts and their pooled mfa tokens, per database: the rows pass serves the same
   * database again and goes on with the same accounts, whose spent steps it must not reuse.
   */
  secondSteps: Map<string, { serving: { url: string }; logins: ReturnType<typeof secondStepLogins> }>
}

export const endpointPools = (): EndpointPools => ({ passkeys: new Map(), secondSteps: new Map() })

function passkeysOn({ passkeys }: EndpointPools, { persistTo, baseUrl, users }: Deployment) {
  const known = passkeys.get(persistTo)
  if (known) {
    known.serving.url = baseUrl
    return known.signIns
  }
  const first = users - reservedAccountsOf(users)
  const usernames = Array.from({ length: PASSKEY_ACCOUNTS }, (_, k) => benchUsername(first + REAUTH_ACCOUNTS + k))
  const serving = { url: baseUrl }
  const signIns = passkeySignIns({ baseUrl: () => serving.url, usernames, password: BENCH_PASSWORD })
  passkeys.set(persistTo, { serving, signIns })
  return signIns
}

function secondStepsOn({ secondSteps }: EndpointPools, { persistTo, baseUrl, users }: Deployment) {
  const known = secondSteps.get(persistTo)
  if (known) {
    known.serving.url = baseUrl
    return known.logins
  }
  const count = totpAccountsOf(users)
  const usernames = Array.from({ length: count }, (_, k) => benchUsername(users - count + k))
  const serving = { url: baseUrl }
  const logins = secondStepLogins({ baseUrl: () => serving.url, usernames, password: BENCH_PASSWORD })
  secondSteps.set(persistTo, { serving, logins })
  return logins
}

/** The endpoints, each with what it needs to run again and again without failing. */
export async function endpoints(pools: EndpointPools, deployment: Deployment, only?: string[]): Promise<Endpoint[]> {
  const { baseUrl, users } = deployment
  const admin = await loginAs(baseUrl, 0)
  const member = await loginAs(baseUrl, 1)
  const reauthFirst = users - reservedAccountsOf(users)
  const reauthTokens: string[] = []
  if (!only || only.includes('reauthenticate'))
    for (let i = 0; i < REAUTH_ACCOUNTS; i++) reauthTokens.push((await loginAs(baseUrl, reauthFirst + i)).access_token)
  let nextReauth = 0
  const secondStep = secondStepsOn(pools, deployment)
  const passkeys = passkeysOn(pools, deployment)
  // Refresh tokens are single use: every request takes one from the pool and returns the new one.
  const pool: string[] = []
  for (let i = 0; i < 24; i++) pool.push((await loginAs(baseUrl, 2 + (i % 10))).refresh_token)
  let signups = 0
  let invitations = 0
  const runTag = Date.now().toString(36)
  let nextLogin = 0

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const oauth = !only || only.some((name) => name.startsWith('oauth')) ? await oauthEndpoints(() => baseUrl, admin.access_token) : []
  // An organization of the member's, whose permission check reads the membership (and a custom role) on every request.
  const orgSlug = `bench-${runTag}`
  if (!only || only.includes('org permission check') || only.includes('org invitation')) {
    await post(baseUrl, '/orgs', { slug: orgSlug, name: 'Bench organization' }, member.access_token)
    await post(baseUrl, `/orgs/${orgSlug}/roles`, { name: 'billing', permissions: ['billing:*', 'project:read'] }, member.access_token)
  }
  return [
    { name: 'hello', spec: { path: '/api/v1/hello' } },
    {
      name: 'signup',
      spec: {
        method: 'POST',
        path: '/api/v1/users/signup',
        body: () => {
          const name = `s${runTag}_${signups++}`
          return JSON.stringify({ username: name, email: `${name}@bench.example`, password: BENCH_PASSWORD })
        },
      },
    },
    {
      name: 'login',
      spec: {
        method: 'POST',
        path: '/api/v1/users/login',
        // Spread over many accounts, as real logins are.
        body: () =>
          JSON.stringify({
            username: benchUsername(20 + (nextLogin++ % (users - 20 - reservedAccountsOf(users)))),
            password: BENCH_PASSWORD,
          }),
      },
    },
    {
      name: 'login second step (totp)',
      spec: { method: 'POST', path: '/api/v1/users/login/mfa', body: secondStep.body, credentials: secondStep.credentials },
    },
    {
      name: 'reauthenticate',
      spec: {
        method: 'POST',
        path: '/api/v1/users/me/reauthenticate',
        headersEach: () => bearer(reauthTokens[nextReauth++ % REAUTH_ACCOUNTS]!),
        body: () => JSON.stringify({ password: BENCH_PASSWORD }),
      },
    },
    {
      name: 'passkey sign-in',
      spec: { method: 'POST', path: '/api/v1/users/passkeys/login', body: passkeys.body, credentials: passkeys.credentials },
    },
    { name: 'me', spec: { path: '/api/v1/users/me', headers: bearer(member.access_token) } },
    {
      name: 'refresh',
      spec: {
        method: 'POST',
        path: '/api/v1/users/refresh',
        body: () => JSON.stringify({ refresh_token: pool.shift() }),
        onResponse: (status, body) => {
          if (status === 200) pool.push((JSON.parse(body) as { refresh_token: string }).refresh_token)
        },
      },
    },
    { name: 'admin list (first page)', spec: { path: '/api/v1/admin/users?limit=50', headers: bearer(admin.access_token) } },
    {
      name: 'admin list (deep page)',
      spec: { path: `/api/v1/admin/users?limit=50&cursor=${deployment.deepCursor}`, headers: bearer(admin.access_token) },
    },
    ...oauth,
    { name: 'sign-in page', spec: { path: '/sign-in' } },
    {
      // The hosted page's password sign-in: the same pipeline as login, answered with a cookie and a redirect.
      name: 'page sign-in',
      spec: {
        method: 'POST',
        path: '/sign-in',
        redirects: true,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'sec-fetch-site': 'same-origin',
          cookie: `edge-users-csrf=${PAGE_CSRF}; __Host-edge-users-csrf=${PAGE_CSRF}`,
        },
        body: () =>
          new URLSearchParams({
            csrf_token: PAGE_CSRF,
            username: benchUsername(20 + (nextLogin++ % (users - 20 - reservedAccountsOf(users)))),
            password: BENCH_PASSWORD,
          }).toString(),
      },
    },
    {
      name: 'org permission check',
      spec: {
        method: 'POST',
        path: `/api/v1/orgs/${orgSlug}/permissions/check`,
        headers: bearer(member.access_token),
        body: () => JSON.stringify({ permissions: ['member:invite', 'billing:read'] }),
      },
    },
    {
      // An invitation: its row, its event and its mail job (the consumer then arms its token).
      name: 'org invitation',
      spec: {
        method: 'POST',
        path: `/api/v1/orgs/${orgSlug}/invitations`,
        headers: bearer(member.access_token),
        body: () => JSON.stringify({ email: `invitee_${runTag}_${invitations++}@bench.example`, roles: ['member'] }),
        rowsOnly: true,
      },
    },
  ]
}
