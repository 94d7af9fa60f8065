import type { Context } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import type { AppEnv } from '../app-env'
import type { ProviderSettings } from '../auth/oauth'
import { authorizationUrl, completeAuthorization, newSecret, ProviderFailure } from '../auth/oauth'
import { hashOpaqueToken, newOpaqueToken } from '../auth/opaque-tokens'
import { open, seal } from '../auth/secret-box'
import { recordEvent } from '../db/audit'
import { findIdentityHolder, findIdentityOf, linkIdentity, resolveProviderAccount } from '../db/identities'
import {
  createLinkFlow,
  FLOW_TTL_SECONDS,
  issueFlowCode,
  issueLinkCode,
  openLinkFlow,
  startSignInFlow,
  takeFlowState,
} from '../db/oauth-flows'
import { problem, validationFailed } from '../errors'
import { uuidv7 } from '../lib/ids'
import { log } from '../log'
import { admitFromNetwork, refuseOnNetworkBudget } from './admit'
import { gateRefusal } from './gate'
import { checkLinkCode } from './proofs'

/*
 * Sign-in with another provider, up to the app's one-time code: our authorize redirect (state,
 * PKCE and nonce towards the provider, bound to the browser by a cookie), and the callback that
 * checks the provider's answer, decides the account and redirects to the app. The code's exchange
 * for tokens is a proof like any other (proofs.ts checkProviderCode).
 */

/** The browser's flow cookie: `__Host-` (HTTPS or localhost, where Secure cookies work), HttpOnly, SameSite=Lax. */
const COOKIE = '__Host-edge-users-oauth'
const COOKIE_PATTERN = /^[A-Za-z0-9_-]{43}$/

export function providerOf(c: Context<AppEnv>, id: string): ProviderSettings {
  const provider = c.var.config.providers.find((candidate) => candidate.id === id)
  if (!provider) throw problem('not_found', { context: 'No provider has that id.' })
  return provider
}

/** The callback URL to register with a provider: this API's origin as the request reached it. */
export const callbackUrlOf = (c: Context<AppEnv>, provider: ProviderSettings) =>
  `${new URL(c.req.url).origin}/api/v1/oauth/${provider.id}/callback`

/** A redirect back to the app: APP_URL's origin, no fragment of its own. */
export function checkRedirectUri(c: Context<AppEnv>, value: string, path = 'redirect_uri'): string {
  const app = new URL(c.var.config.appUrl)
  if (!URL.canParse(value)) throw validationFailed([{ path, message: 'must be a URL at APP_URL or below it' }])
  const url = new URL(value)
  if (url.origin !== app.origin || url.hash || url.username || url.password)
    throw validationFailed([{ path, message: 'must be a URL at APP_URL or below it, without a fragment' }])
  return url.href
}

/** Plain HTTP is served only on this machine (wrangler dev); anywhere else the API is HTTPS. */
const isLocalHttp = (url: URL) => url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname === '127.0.0.1')

/** The browser's flow id: its cookie when it has one, else a new one it is given now. */
async function browserBinding(c: Context<AppEnv>): Promise<string> {
  let value = getCookie(c, COOKIE)
  if (!value || !COOKIE_PATTERN.test(value)) value = newOpaqueToken()
  const url = new URL(c.req.url)
  const secure = url.protocol === 'https:' || url.hostname === 'localhost' || url.hostname === '127.0.0.1'
  setCookie(c, secure ? COOKIE : COOKIE.replace('__Host-', ''), value, {
    httpOnly: true,
    secure,
    sameSite: 'Lax',
    path: '/',
    maxAge: FLOW_TTL_SECONDS,
  })
  return hashOpaqueToken(value)
}

/**
 * The flow id the browser sent back. Only the `__Host-` cookie counts (a sibling domain can set a
 * cookie without the prefix for ours, and so toss in its own flow), except over plain HTTP on
 * localhost, where a browser may refuse a Secure cookie (Chromium on 127.0.0.1).
 */
async function browserHashOf(c: Context<AppEnv>): Promise<string | undefined> {
  const value = getCookie(c, COOKIE) ?? (isLocalHttp(new URL(c.req.url)) ? getCookie(c, COOKIE.replace('__Host-', '')) : undefined)
  return value && COOKIE_PATTERN.test(value) ? hashOpaqueToken(value) : undefined
}

type FlowSecrets = { verifier: string; nonce: string }

/** A state and the provider-side secrets, sealed with the state's hash as their owner. */
async function newFlowSecrets(c: Context<AppEnv>) {
  const secrets: FlowSecrets = { verifier: newSecret(), nonce: newSecret() }
  const state = newOpaqueToken()
  const stateHash = await hashOpaqueToken(state)
  const sealed = await seal(c.var.config.sealingKeys, new TextEncoder().encode(JSON.stringify(secrets)), stateHash)
  return { secrets, state, sealed, stateHash }
}

/**
 * GET /oauth/{provider}/authorize: a sign-in flow (the app's redirect_uri and PKCE challenge), or
 * the browser's half of a linking flow (its `link` ticket). Budgeted per network. Answers the
 * redirect to the provider.
 */
export async function startProviderFlow(
  c: Context<AppEnv>,
  providerId: string,
  input: { redirectUri?: string; codeChallenge?: string; link?: string },
): Promise<string> {
  const provider = providerOf(c, providerId)
  await admitFromNetwork(c.var.signIn)
  const now = new Date()
  if (input.link !== undefined) {
    const ticketHash = await hashOpaqueToken(input.link)
    const { secrets, state, sealed, stateHash } = await newFlowSecrets(c)
    const opened = await openLinkFlow(c.var.db, {
      ticketHash,
      provider: provider.id,
      stateHash,
      browserHash: await browserBinding(c),
      secrets: sealed,
      now,
    })
    if (!opened) throw problem('invalid_challenge')
    return authorizationUrl(provider, { callbackUrl: callbackUrlOf(c, provider), state, ...secrets })
  }
  const redirectUri = checkRedirectUri(c, input.redirectUri ?? '')
  const id = uuidv7(now.getTime())
  const { secrets, state, sealed, stateHash } = await newFlowSecrets(c)
  await startSignInFlow(c.var.db, {
    id,
    provider: provider.id,
    redirectUri,
    codeChallenge: input.codeChallenge ?? '',
    stateHash,
    browserHash: await browserBinding(c),
    secrets: sealed,
    now,
  })
  return authorizationUrl(provider, { callbackUrl: callbackUrlOf(c, provider), state, ...secrets })
}

/**
 * POST /users/me/identities/{provider}/authorize: a linking flow for the caller, as our own
 * authorize URL, holding the app's PKCE challenge for the link code's completion.
 */
export async function startLinking(
  c: Context<AppEnv>,
  providerId: string,
  input: { redirectUri: string; codeChallenge: string },
): Promise<string> {
  const provider = providerOf(c, providerId)
  const ticket = newOpaqueToken()
  const now = new Date()
  await createLinkFlow(c.var.db, {
    id: uuidv7(now.getTime()),
    provider: provider.id,
    userId: c.var.user.id,
    ticketHash: await hashOpaqueToken(ticket),
    redirectUri: checkRedirectUri(c, input.redirectUri),
    codeChallenge: input.codeChallenge,
    now,
  })
  return `${new URL(c.req.url).origin}/api/v1/oauth/${provider.id}/authorize?link=${ticket}`
}

const withFragment = (redirectUri: string, fragment: Record<string, string>) => `${redirectUri}#${new URLSearchParams(fragment)}`

/**
 * GET /oauth/{provider}/callback: the state is spent (an unknown, used, expired or other
 * browser's state is 400 invalid_challenge, and nothing goes back to any app); the provider's
 * answer is checked; the account is decided by the contract's rules; the app gets
 * `#code=…` (or, for a link, `#link_code=…`) or `#error=<code>`. Every refusal is audited. The
 * callback never links: a link is made only by the account that started it (completeLinking).
 */
export async function finishProviderFlow(c: Context<AppEnv>, providerId: string): Promise<string> {
  const provider = providerOf(c, providerId)
  const { db, config, client } = c.var
  const query = new URL(c.req.url).searchParams
  const state = query.get('state')
  const now = new Date()
  const flow = state ? await takeFlowState(db, { stateHash: await hashOpaqueToken(state), provider: provider.id, now }) : undefined
  const browser = await browserHashOf(c)
  if (!flow?.browserHash || flow.browserHash !== browser || !flow.secrets) {
    const details = { method: 'provider', provider: provider.id, reason: flow ? 'other_browser' : 'invalid_state' }
    return refuseOnNetworkBudget(c.var.signIn, problem('invalid_challenge', { context: 'Start the sign-in again from the application.' }), {
      action: 'user.login_failed',
      targetId: null,
      details,
    })
  }
  const refuse = async (code: string, userId: string | null, reason = code) => {
    const details = { method: 'provider', provider: provider.id, reason }
    await recordEvent(
      db,
      { action: flow.purpose === 'link' ? 'user.reauth_failed' : 'user.login_failed', targetId: userId, details },
      client,
      now,
    )
    return withFragment(flow.redirectUri, { error: code })
  }
  const opened = await open(config.sealingKeys, flow.secrets, flow.stateHash ?? '')
  const secrets = opened && (JSON.parse(new TextDecoder().decode(opened)) as FlowSecrets)
  if (!secrets) return refuse('provider_failed', null, 'secrets')
  let identity: Awaited<ReturnType<typeof completeAuthorization>>
  try {
    identity = await completeAuthorization(provider, { callbackUrl: callbackUrlOf(c, provider), query, state: state ?? '', ...secrets })
  } catch (error) {
    const reason = error instanceof ProviderFailure ? error.reason : 'provider_error'
    log('warn', 'oauth.provider_failed', { provider: provider.id, reason })
    return refuse('provider_failed', flow.linkUserId, reason)
  }
  const profile = { provider: provider.id, ...identity }
  if (flow.purpose === 'link' && flow.linkUserId) {
    const holder = await findIdentityHolder(db, profile)
    if (holder !== undefined && holder !== flow.linkUserId) return refuse('account_exists', flow.linkUserId)
    const linkCode = newOpaqueToken()
    await issueLinkCode(db, { id: flow.id, codeHash: await hashOpaqueToken(linkCode), profile, now })
    return withFragment(flow.redirectUri, { link_code: linkCode })
  }
  const resolved = await resolveProviderAccount(db, profile, client, now)
  if (resolved.outcome === 'account_exists' || resolved.outcome === 'email_not_verified') return refuse(resolved.outcome, null)
  const { user } = resolved
  const refusal = gateRefusal(config, user)
  if (refusal) return refuse(refusal, user.id)
  const code = newOpaqueToken()
  await issueFlowCode(db, { id: flow.id, userId: user.id, codeHash: await hashOpaqueToken(code), now })
  return withFragment(flow.redirectUri, { code })
}

/**
 * POST /users/me/identities/{provider}/complete: the link code, checked for this account, this
 * provider and the verifier of the challenge sent at the start (proofs.ts checkLinkCode), links
 * the identity. Any refusal spends the code, costs the network's budget and is audited. An
 * identity another account took meanwhile is 409 account_exists.
 */
export async function completeLinking(c: Context<AppEnv>, providerId: string, input: { code: string; codeVerifier: string }) {
  const provider = providerOf(c, providerId)
  const { db, config, user, client } = c.var
  const now = new Date()
  const profile = await checkLinkCode({ db, config, now, client }, { userId: user.id, provider: provider.id, ...input })
  if (!profile) {
    const details = { method: 'provider', provider: provider.id, purpose: 'link', reason: 'invalid_link_code' }
    return refuseOnNetworkBudget(c.var.signIn, problem('invalid_challenge', { context: 'Start linking again.' }), {
      action: 'user.reauth_failed',
      actorId: user.id,
      targetId: user.id,
      details,
    })
  }
  if ((await linkIdentity(db, { userId: user.id, profile, client, now })) === 'taken') {
    const details = { method: 'provider', provider: provider.id, purpose: 'link', reason: 'identity_taken' }
    await recordEvent(db, { action: 'user.reauth_failed', actorId: user.id, targetId: user.id, details }, client, now)
    throw problem('account_exists')
  }
  const identity = await findIdentityOf(db, { userId: user.id, provider: profile.provider, subject: profile.subject })
  if (!identity) throw problem('invalid_challenge', { context: 'Start linking again.' })
  return identity
}
