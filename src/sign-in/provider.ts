import type { ProviderSettings } from '../auth/oauth'
import { authorizationUrl, completeAuthorization, newSecret, ProviderFailure } from '../auth/oauth'
import { hashOpaqueToken, newOpaqueToken } from '../auth/opaque-tokens'
import { open, seal } from '../auth/secret-box'
import type { Config } from '../config'
import { recordEvent } from '../db/audit'
import { findIdentityHolder, findIdentityOf, linkIdentity, resolveProviderAccount } from '../db/identities'
import { createLinkFlow, issueFlowCode, issueLinkCode, openLinkFlow, startSignInFlow, takeFlowState } from '../db/oauth-flows'
import { problem, validationFailed } from '../errors'
import { uuidv7 } from '../lib/ids'
import { log } from '../log'
import { admitFromNetwork, refuseOnNetworkBudget } from './admit'
import type { SignedIn, SignInContext } from './context'
import { gateRefusal } from './gate'
import { checkLinkCode } from './proofs'

/*
 * Sign-in with another provider, up to the app's one-time code: our authorize redirect (state,
 * PKCE and nonce towards the provider, bound to the browser by a cookie), and the callback that
 * checks the provider's answer, decides the account and redirects to the app. The code's exchange
 * for tokens is a proof like any other (proofs.ts checkProviderCode). The cookie itself is HTTP's
 * (http/provider-browser.ts): this module is handed the browser's binding and the API's origin.
 */

export function providerOf(config: Pick<Config, 'providers'>, id: string): ProviderSettings {
  const provider = config.providers.find((candidate) => candidate.id === id)
  if (!provider) throw problem('not_found', { context: 'No provider has that id.' })
  return provider
}

/** The callback URL to register with a provider: this API's origin as the request reached it. */
export const callbackUrlOf = (origin: string, provider: ProviderSettings) => `${origin}/api/v1/oauth/${provider.id}/callback`

/** Where the hosted pages take a provider flow's answer: nothing else on this worker's own origin may. */
export const PAGE_RETURNS = ['/sign-in/provider', '/account/connected'] as const

/**
 * A redirect back to the app: at APP_URL's origin, no fragment of its own; or, on this worker's
 * own origin, exactly one of the hosted pages' landings (any other path there could pass the
 * code on, through a page's return_to, say).
 */
export function checkRedirectUri(config: Pick<Config, 'appUrl' | 'publicUrl'>, value: string, path = 'redirect_uri'): string {
  if (!URL.canParse(value)) throw validationFailed([{ path, message: 'must be a URL at APP_URL or below it' }])
  const url = new URL(value)
  const ownPage =
    url.origin === new URL(config.publicUrl).origin && url.search === '' && (PAGE_RETURNS as readonly string[]).includes(url.pathname)
  const atApp = url.origin === new URL(config.appUrl).origin && (config.appUrl !== config.publicUrl || ownPage)
  if (!(atApp || ownPage) || url.hash || url.username || url.password)
    throw validationFailed([{ path, message: 'must be a URL at APP_URL or below it, without a fragment' }])
  return url.href
}

type FlowSecrets = { verifier: string; nonce: string }

/** A state and the provider-side secrets, sealed with the state's hash as their owner. */
async function newFlowSecrets(config: Pick<Config, 'sealingKeys'>) {
  const secrets: FlowSecrets = { verifier: newSecret(), nonce: newSecret() }
  const state = newOpaqueToken()
  const stateHash = await hashOpaqueToken(state)
  const sealed = await seal(config.sealingKeys, new TextEncoder().encode(JSON.stringify(secrets)), stateHash)
  return { secrets, state, sealed, stateHash }
}

/**
 * The browser a flow is bound to, as the HTTP side knows it: the API's origin as the request
 * reached it, and the binding of its flow cookie (`bind` gives the browser one if it has none).
 */
export type FlowBrowser = { origin: string; bind: () => Promise<string> }

/**
 * GET /oauth/{provider}/authorize: a sign-in flow (the app's redirect_uri and PKCE challenge), or
 * the browser's half of a linking flow (its `link` ticket). Budgeted per network. Answers the
 * redirect to the provider.
 */
export async function startProviderFlow(
  ctx: SignInContext,
  browser: FlowBrowser,
  providerId: string,
  input: { redirectUri?: string; codeChallenge?: string; link?: string },
): Promise<string> {
  const provider = providerOf(ctx.config, providerId)
  await admitFromNetwork(ctx)
  const { now } = ctx
  if (input.link !== undefined) {
    const ticketHash = await hashOpaqueToken(input.link)
    const { secrets, state, sealed, stateHash } = await newFlowSecrets(ctx.config)
    const opened = await openLinkFlow(ctx.db, {
      ticketHash,
      provider: provider.id,
      stateHash,
      browserHash: await browser.bind(),
      secrets: sealed,
      now,
    })
    if (!opened) throw problem('invalid_challenge')
    return authorizationUrl(provider, { callbackUrl: callbackUrlOf(browser.origin, provider), state, ...secrets })
  }
  const redirectUri = checkRedirectUri(ctx.config, input.redirectUri ?? '')
  const id = uuidv7(now.getTime())
  const { secrets, state, sealed, stateHash } = await newFlowSecrets(ctx.config)
  await startSignInFlow(ctx.db, {
    id,
    provider: provider.id,
    redirectUri,
    codeChallenge: input.codeChallenge ?? '',
    stateHash,
    browserHash: await browser.bind(),
    secrets: sealed,
    now,
  })
  return authorizationUrl(provider, { callbackUrl: callbackUrlOf(browser.origin, provider), state, ...secrets })
}

/**
 * POST /users/me/identities/{provider}/authorize: a linking flow for the caller, as our own
 * authorize URL, holding the app's PKCE challenge for the link code's completion.
 */
export async function startLinking(
  ctx: SignInContext,
  account: SignedIn,
  input: { providerId: string; origin: string; redirectUri: string; codeChallenge: string },
): Promise<string> {
  const provider = providerOf(ctx.config, input.providerId)
  const ticket = newOpaqueToken()
  const { now } = ctx
  await createLinkFlow(ctx.db, {
    id: uuidv7(now.getTime()),
    provider: provider.id,
    userId: account.user.id,
    ticketHash: await hashOpaqueToken(ticket),
    redirectUri: checkRedirectUri(ctx.config, input.redirectUri),
    codeChallenge: input.codeChallenge,
    now,
  })
  return `${input.origin}/api/v1/oauth/${provider.id}/authorize?link=${ticket}`
}

const withFragment = (redirectUri: string, fragment: Record<string, string>) => `${redirectUri}#${new URLSearchParams(fragment)}`

/**
 * GET /oauth/{provider}/callback: the state is spent (an unknown, used, expired or other
 * browser's state is 400 invalid_challenge, and nothing goes back to any app); the provider's
 * answer is checked; the account is decided by the contract's rules; the app gets
 * `#code=…` (or, for a link, `#link_code=…`) or `#error=<code>`. Every refusal is audited. The
 * callback never links: a link is made only by the account that started it (completeLinking).
 */
export async function finishProviderFlow(
  ctx: SignInContext,
  input: { providerId: string; origin: string; query: URLSearchParams; browserHash: string | undefined },
): Promise<string> {
  const provider = providerOf(ctx.config, input.providerId)
  const { db, config, caller: client, now } = ctx
  const { query } = input
  const state = query.get('state')
  const flow = state ? await takeFlowState(db, { stateHash: await hashOpaqueToken(state), provider: provider.id, now }) : undefined
  if (!flow?.browserHash || flow.browserHash !== input.browserHash || !flow.secrets) {
    const details = { method: 'provider', provider: provider.id, reason: flow ? 'other_browser' : 'invalid_state' }
    return refuseOnNetworkBudget(ctx, problem('invalid_challenge', { context: 'Start the sign-in again from the application.' }), {
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
    identity = await completeAuthorization(provider, {
      callbackUrl: callbackUrlOf(input.origin, provider),
      query,
      state: state ?? '',
      ...secrets,
    })
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
export async function completeLinking(
  ctx: SignInContext,
  account: SignedIn,
  providerId: string,
  input: { code: string; codeVerifier: string },
) {
  const provider = providerOf(ctx.config, providerId)
  const { db, config, caller: client, now } = ctx
  const { user } = account
  const profile = await checkLinkCode({ db, config, now, client }, { userId: user.id, provider: provider.id, ...input })
  if (!profile) {
    const details = { method: 'provider', provider: provider.id, purpose: 'link', reason: 'invalid_link_code' }
    return refuseOnNetworkBudget(ctx, problem('invalid_challenge', { context: 'Start linking again.' }), {
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
