import { hashOpaqueToken, newAuthorizationCode } from '../auth/opaque-tokens'
import { needsTwoFactors, secondFactorsOf } from '../db/factors'
import { createGrant, findConsent } from '../db/oauth-grants'
import type { SessionRow, UserRow } from '../db/schema'
import { toBase64Url, utf8 } from '../lib/encoding'
import type { SignInContext } from '../sign-in/context'
import type { AuthorizationErrorCode, AuthorizationRequest } from './authorization-request'
import { coveredBy } from './scopes'

/*
 * What an authorization request needs from the person in this browser, decided in one place: a
 * sign-in (a fresh one for prompt=login, an old max_age or a second factor), a consent, or
 * nothing more, in which case a code is issued. The page turns each answer into a redirect or a
 * form; it never decides.
 */

export type Browser = { session: SessionRow; user: UserRow }

export type NextStep =
  | { kind: 'sign_in'; fresh: boolean }
  | { kind: 'refuse'; error: AuthorizationErrorCode; description: string }
  | { kind: 'consent'; newScopes: string[] }
  | { kind: 'issue' }

/** How long a code lives (the contract: 60 s). */
export const CODE_TTL_SECONDS = 60

export async function nextStep(ctx: SignInContext, request: AuthorizationRequest, browser: Browser | undefined): Promise<NextStep> {
  const silent = request.prompts.has('none')
  if (!browser) {
    if (silent) return { kind: 'refuse', error: 'login_required', description: 'Nobody is signed in here.' }
    // The sign-in about to happen is the fresh one prompt=login or max_age asks for: say so on the way back, or it asks twice.
    return { kind: 'sign_in', fresh: request.prompts.has('login') || request.maxAge !== undefined || request.requireAal2 }
  }
  const { session } = browser
  const nowSeconds = Math.floor(ctx.now.getTime() / 1000)
  const authTime = Math.floor(session.authTime.getTime() / 1000)
  // A fresh sign-in this server asked for has happened: it satisfies prompt=login and max_age.
  const freshlySignedIn = request.authAfter !== undefined && authTime >= request.authAfter
  const tooOld = request.maxAge !== undefined && nowSeconds - authTime > request.maxAge
  if (!freshlySignedIn && (request.prompts.has('login') || tooOld)) {
    if (silent) return { kind: 'refuse', error: 'login_required', description: 'The sign-in here is older than max_age allows.' }
    return { kind: 'sign_in', fresh: true }
  }
  // A silent request learns nothing of the account (its second factor, say) before the person allowed the client.
  if (silent && !request.client.skipConsent) {
    const consent = await findConsent(ctx.db, browser.user.id, request.client.id)
    if (!consent || !coveredBy(request.scopes, consent.scopes))
      return { kind: 'refuse', error: 'consent_required', description: 'The person has not allowed this application yet.' }
  }
  if (request.requireAal2 && session.aal !== 'aal2') {
    if (!needsTwoFactors(await secondFactorsOf(ctx.db, browser.user.id)))
      return {
        kind: 'refuse',
        error: 'unmet_authentication_requirements',
        description: 'The account has no second factor to sign in with.',
      }
    if (silent) return { kind: 'refuse', error: 'login_required', description: 'A sign-in with two factors is needed.' }
    if (freshlySignedIn)
      return { kind: 'refuse', error: 'unmet_authentication_requirements', description: 'The sign-in did not use a second factor.' }
    return { kind: 'sign_in', fresh: true }
  }
  if (request.client.skipConsent && !request.prompts.has('consent')) return { kind: 'issue' }
  const consent = await findConsent(ctx.db, browser.user.id, request.client.id)
  const newScopes = request.scopes.filter((scope) => !consent?.scopes.includes(scope))
  if (consent && coveredBy(request.scopes, consent.scopes) && !request.prompts.has('consent')) return { kind: 'issue' }
  if (silent) return { kind: 'refuse', error: 'consent_required', description: 'The person has not allowed this application yet.' }
  return { kind: 'consent', newScopes }
}

/**
 * The token that ties a consent form to the browser session that loaded it and the request it
 * was shown for: an HMAC of both, so the form's POST in another session, or for another request,
 * is refused.
 */
export async function consentBinding(key: CryptoKey, sessionId: string, query: string): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', key, utf8.encode(`consent\n${sessionId}\n${query}`))
  return toBase64Url(new Uint8Array(mac))
}

/**
 * A code for the request: a pending grant with what the token endpoint will check (client,
 * redirect URI, PKCE challenge) and what the tokens will say (scopes, resources, nonce, the
 * session's proof). With `consented`, the consent is recorded in the same batch. Returns the code.
 */
export async function issueCode(ctx: SignInContext, request: AuthorizationRequest, browser: Browser, consented: boolean): Promise<string> {
  const { config, now } = ctx
  const grantId = crypto.randomUUID()
  const code = newAuthorizationCode(grantId)
  const offline = request.scopes.includes('offline_access') && request.client.grantTypes.includes('refresh_token')
  const lifetime = offline ? now.getTime() + config.refreshTokenTtlSeconds * 1000 : browser.session.expiresAt.getTime()
  await createGrant(ctx.db, {
    grant: {
      id: grantId,
      clientId: request.client.id,
      userId: browser.user.id,
      sessionId: browser.session.id,
      scopes: request.scopes,
      resources: request.resources,
      offline,
      nonce: request.nonce ?? null,
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
      codeHash: await hashOpaqueToken(code),
      codeExpiresAt: new Date(now.getTime() + CODE_TTL_SECONDS * 1000),
      authTime: browser.session.authTime,
      amr: browser.session.amr,
      aal: browser.session.aal,
      createdAt: now,
      lastUsedAt: now,
      expiresAt: new Date(lifetime),
    },
    // What the person allowed before stays allowed: consent grows, a narrower request never shrinks it.
    // A skip_consent client gets its row too (unaudited: nobody was asked), so Apps with access lists it.
    consent:
      consented || request.client.skipConsent
        ? {
            scopes: [...new Set([...((await findConsent(ctx.db, browser.user.id, request.client.id))?.scopes ?? []), ...request.scopes])],
            asked: consented,
          }
        : undefined,
    client: ctx.caller,
    now,
  })
  return code
}
