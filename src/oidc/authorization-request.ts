import { findOAuthClient } from '../db/oauth-clients'
import type { OAuthClientRow } from '../db/schema'
import { toBase64Url, utf8 } from '../lib/encoding'
import type { SignInContext } from '../sign-in/context'
import { SCOPES, type Scope } from './scopes'

/*
 * An authorization request (OAuth 2.1 §4.1.1, OIDC Core §3.1.2.1), read and judged in one place,
 * before anything is shown or issued. Until the client and its redirect URI are known to match,
 * nothing may be sent to the redirect URI: such errors are shown on a page (`untrusted`). After,
 * errors go back to the client (`redirect`), with its state and our issuer.
 */

/** The parameters an authorization request may carry once; a repeated one is refused (RFC 6749 §3.1). */
const SINGLE = [
  'client_id',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'prompt',
  'max_age',
  'acr_values',
  'login_hint',
  'auth_after',
] as const

export type AuthorizationErrorCode =
  | 'invalid_request'
  | 'unauthorized_client'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'access_denied'
  | 'login_required'
  | 'consent_required'
  | 'invalid_target'
  | 'unmet_authentication_requirements'

export type Prompt = 'none' | 'login' | 'consent'

export type AuthorizationRequest = {
  client: OAuthClientRow
  redirectUri: string
  state: string | undefined
  scopes: Scope[]
  nonce: string | undefined
  codeChallenge: string
  prompts: Set<Prompt>
  maxAge: number | undefined
  requireAal2: boolean
  resources: string[]
  /**
   * Set (and signed) by this server on the way back from a fresh sign-in it asked for: a sign-in
   * at or after it satisfies `login`, `max_age` and a step-up, once.
   */
  authAfter: number | undefined
}

export type RequestJudgement =
  | { kind: 'untrusted'; message: string }
  | { kind: 'redirect'; redirectUri: string; state: string | undefined; error: AuthorizationErrorCode; description: string }
  | { kind: 'ok'; request: AuthorizationRequest }

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost'])
const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/
const MAX_VALUE = 2048

/**
 * Whether `presented` is one of the client's redirect URIs: the same string, or, for a native
 * client's loopback URI, the same but for the port (RFC 8252 §7.3), as a browser reads it.
 */
export function matchesRedirectUri(client: Pick<OAuthClientRow, 'redirectUris' | 'applicationType'>, presented: string): boolean {
  if (client.redirectUris.includes(presented)) return true
  if (client.applicationType !== 'native' || !URL.canParse(presented)) return false
  const url = new URL(presented)
  if (url.href !== presented || url.protocol !== 'http:' || !LOOPBACK_HOSTS.has(url.hostname) || url.username || url.password) return false
  url.port = ''
  return client.redirectUris.some((registered) => {
    const candidate = new URL(registered)
    if (candidate.protocol !== 'http:' || !LOOPBACK_HOSTS.has(candidate.hostname)) return false
    candidate.port = ''
    return candidate.href === url.href
  })
}

/** Reads and judges an authorization request's query. */
export async function judgeAuthorizationRequest(ctx: SignInContext, query: URLSearchParams): Promise<RequestJudgement> {
  for (const name of ['client_id', 'redirect_uri'] as const)
    if (query.getAll(name).length > 1) return { kind: 'untrusted', message: `The request names ${name} more than once.` }
  const clientId = query.get('client_id')
  if (!clientId) return { kind: 'untrusted', message: 'The request names no client (client_id is missing).' }
  const client = clientId.length <= 64 ? await findOAuthClient(ctx.db, clientId) : undefined
  if (!client) return { kind: 'untrusted', message: 'The application that sent you here is not registered with this service.' }
  const redirectUri = query.get('redirect_uri')
  if (!redirectUri) return { kind: 'untrusted', message: 'The request names no redirect_uri.' }
  if (!matchesRedirectUri(client, redirectUri))
    return { kind: 'untrusted', message: 'The address the application asked to return to is not one it registered.' }

  const repeated = SINGLE.find((name) => query.getAll(name).length > 1)
  const state = repeated === 'state' ? undefined : (query.get('state') ?? undefined)
  const refuse = (error: AuthorizationErrorCode, description: string): RequestJudgement => ({
    kind: 'redirect',
    redirectUri,
    state,
    error,
    description,
  })
  if (repeated) return refuse('invalid_request', `${repeated} is repeated.`)
  for (const [name, value] of query) if (value.length > MAX_VALUE) return refuse('invalid_request', `${name} is too long.`)
  if (!client.grantTypes.includes('authorization_code'))
    return refuse('unauthorized_client', 'This client may not use the authorization code flow.')
  if (query.get('response_type') !== 'code') return refuse('unsupported_response_type', 'Only response_type=code is served.')

  const codeChallenge = query.get('code_challenge')
  if (!codeChallenge) return refuse('invalid_request', 'PKCE is required: send code_challenge with code_challenge_method=S256.')
  if (query.get('code_challenge_method') !== 'S256') return refuse('invalid_request', 'code_challenge_method must be S256.')
  if (!PKCE_CHALLENGE.test(codeChallenge)) return refuse('invalid_request', 'code_challenge must be a base64url SHA-256 (43 characters).')

  const asked = (query.get('scope') ?? '').split(' ').filter(Boolean)
  const unknown = asked.find((scope) => !(SCOPES as readonly string[]).includes(scope))
  if (unknown !== undefined) return refuse('invalid_scope', `${unknown.slice(0, 40)} is not a scope this server grants.`)
  const scopes = [...new Set(asked)] as Scope[]
  const nonce = query.get('nonce') ?? undefined
  if (scopes.includes('openid') && !nonce) return refuse('invalid_request', 'nonce is required when openid is asked for.')

  const prompts = new Set((query.get('prompt') ?? '').split(' ').filter(Boolean))
  if ([...prompts].some((prompt) => prompt !== 'none' && prompt !== 'login' && prompt !== 'consent'))
    return refuse('invalid_request', 'prompt may be none, login or consent.')
  if (prompts.has('none') && prompts.size > 1) return refuse('invalid_request', 'prompt=none stands alone.')

  const maxAgeText = query.get('max_age')
  if (maxAgeText !== null && !/^\d{1,9}$/.test(maxAgeText)) return refuse('invalid_request', 'max_age must be a whole number of seconds.')
  const authAfter = await readAuthAfter(ctx, query)

  const resources = [...new Set(query.getAll('resource'))]
  for (const resource of resources) {
    if (!URL.canParse(resource) || resource.includes('#'))
      return refuse('invalid_target', 'A resource must be an absolute URI without a fragment.')
    if (resource !== ctx.config.publicUrl && !ctx.config.oauthResources.includes(resource))
      return refuse('invalid_target', 'That resource is not one this server issues tokens for.')
  }

  return {
    kind: 'ok',
    request: {
      client,
      redirectUri,
      state,
      scopes,
      nonce,
      codeChallenge,
      prompts: prompts as Set<Prompt>,
      maxAge: maxAgeText === null ? undefined : Number(maxAgeText),
      requireAal2: (query.get('acr_values') ?? '').split(' ').includes('aal2'),
      resources,
      authAfter,
    },
  }
}

/** How long the way back from a sign-in this server asked for stays good for. */
const AUTH_AFTER_TTL_SECONDS = 600

const withoutAuthAfter = (query: URLSearchParams) => {
  const rest = new URLSearchParams(query)
  rest.delete('auth_after')
  return rest.toString()
}

async function authAfterMac(key: CryptoKey, time: number, rest: string): Promise<string> {
  return toBase64Url(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8.encode(`auth_after\n${time}\n${rest}`))))
}

/**
 * The `auth_after` of the way back from a fresh sign-in this server asked for: the request's time
 * and an HMAC of it with the rest of the request, so nobody can write one to skip prompt=login or
 * max_age, and it is good for ten minutes only.
 */
export async function signedAuthAfter(key: CryptoKey, query: URLSearchParams, time: number): Promise<string> {
  return `${time}.${await authAfterMac(key, time, withoutAuthAfter(query))}`
}

async function readAuthAfter(ctx: SignInContext, query: URLSearchParams): Promise<number | undefined> {
  const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(query.get('auth_after') ?? '')
  if (!match) return undefined
  const time = Number(match[1])
  const age = ctx.now.getTime() / 1000 - time
  if (age < 0 || age > AUTH_AFTER_TTL_SECONDS) return undefined
  return (await authAfterMac(ctx.config.consentKey, time, withoutAuthAfter(query))) === match[2] ? time : undefined
}

/** Where the client is sent with an answer: its redirect URI with these parameters and our issuer (RFC 9207). */
export function clientRedirect(redirectUri: string, issuer: string, params: Record<string, string | undefined>): string {
  const url = new URL(redirectUri)
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value)
  url.searchParams.set('iss', issuer)
  return url.href
}
