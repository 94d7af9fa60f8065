import * as oauth from 'oauth4webapi'

/*
 * Talking to another provider, through oauth4webapi (panva): discovery, the authorization URL, the
 * code grant with PKCE, and for OpenID Connect the ID token fully checked (signature by the
 * issuer's JWKS with the registered algorithm, iss, aud, azp, exp, iat, nonce). For GitHub, its
 * OAuth endpoints and the verified primary address from its emails API (on github.com, or a GitHub
 * Enterprise Server when `issuer` names one).
 */

/** A configured provider as the flows need it (config.ts builds it from OAUTH_PROVIDERS and OAUTH_CLIENT_SECRETS). */
export type ProviderSettings = {
  id: string
  type: 'oidc' | 'github'
  issuer?: string
  client_id: string
  name: string
  scopes: string[]
  /** The ID token's signing algorithm the provider was registered with (oidc). */
  id_token_alg?: 'RS256' | 'PS256' | 'ES256' | 'EdDSA'
  clientSecret: string
}

/** What the person proved at the provider, as this API uses it. */
export type ProviderIdentity = {
  subject: string
  email: string | undefined
  emailVerified: boolean
  username: string | undefined
}

/** Discovery documents and key sets are cached per isolate, this long. */
const CACHE_MS = 10 * 60 * 1000
const discovered = new Map<string, { server: oauth.AuthorizationServer; at: number }>()
const keySets = new Map<string, oauth.JWKSCacheInput>()

const insecure = (url: string) => new URL(url).protocol === 'http:'
const requestOptions = (provider: ProviderSettings) =>
  provider.issuer && insecure(provider.issuer) ? { [oauth.allowInsecureRequests]: true } : {}

const GITHUB = 'https://github.com'

/** The provider's authorization server: discovered (oidc), or GitHub's endpoints. */
async function serverOf(provider: ProviderSettings): Promise<oauth.AuthorizationServer> {
  if (provider.type === 'github') {
    const base = provider.issuer ?? GITHUB
    return {
      issuer: base,
      authorization_endpoint: `${base}/login/oauth/authorize`,
      token_endpoint: `${base}/login/oauth/access_token`,
    }
  }
  const issuer = provider.issuer as string
  const cached = discovered.get(issuer)
  if (cached && Date.now() - cached.at < CACHE_MS) return cached.server
  const url = new URL(issuer)
  const response = await oauth.discoveryRequest(url, { algorithm: 'oidc', ...requestOptions(provider) })
  const server = await oauth.processDiscoveryResponse(url, response)
  discovered.set(issuer, { server, at: Date.now() })
  return server
}

const clientOf = (provider: ProviderSettings): oauth.Client => ({
  client_id: provider.client_id,
  ...(provider.type === 'oidc' ? { id_token_signed_response_alg: provider.id_token_alg ?? 'RS256' } : {}),
})

export const newSecret = () => oauth.generateRandomCodeVerifier()
export const codeChallengeOf = (verifier: string) => oauth.calculatePKCECodeChallenge(verifier)

/** Where to send the browser: the provider's authorization endpoint with state, PKCE (S256) and, for OIDC, nonce. */
export async function authorizationUrl(
  provider: ProviderSettings,
  input: { callbackUrl: string; state: string; verifier: string; nonce: string },
): Promise<string> {
  const server = await serverOf(provider)
  const url = new URL(server.authorization_endpoint as string)
  url.searchParams.set('client_id', provider.client_id)
  url.searchParams.set('redirect_uri', input.callbackUrl)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('scope', provider.scopes.join(' '))
  url.searchParams.set('state', input.state)
  url.searchParams.set('code_challenge', await codeChallengeOf(input.verifier))
  url.searchParams.set('code_challenge_method', 'S256')
  if (provider.type === 'oidc') url.searchParams.set('nonce', input.nonce)
  return url.href
}

/** Why a provider's answer was refused: logged (the code only) and audited, never more. */
export class ProviderFailure extends Error {
  constructor(readonly reason: string) {
    super(reason)
  }
}

/**
 * The provider's answer at our callback, checked all the way: the authorization response (state,
 * and `iss` where the provider sends it, against mix-up), the code exchanged with our PKCE
 * verifier, then the person's identity. Throws ProviderFailure when anything does not verify.
 */
export async function completeAuthorization(
  provider: ProviderSettings,
  input: { callbackUrl: string; query: URLSearchParams; state: string; verifier: string; nonce: string },
): Promise<ProviderIdentity> {
  try {
    const server = await serverOf(provider)
    const client = clientOf(provider)
    const auth = oauth.ClientSecretBasic(provider.clientSecret)
    const params = oauth.validateAuthResponse(server, client, input.query, input.state)
    const options = requestOptions(provider)
    const response = await oauth.authorizationCodeGrantRequest(server, client, auth, params, input.callbackUrl, input.verifier, {
      ...options,
      ...(provider.type === 'github' ? { headers: { accept: 'application/json' } } : {}),
    })
    if (provider.type === 'github') {
      const result = await oauth.processAuthorizationCodeResponse(server, client, response)
      return await githubIdentity(provider, result.access_token)
    }
    const result = await oauth.processAuthorizationCodeResponse(server, client, response, {
      expectedNonce: input.nonce,
      requireIdToken: true,
    })
    const issuer = provider.issuer as string
    const cache = keySets.get(issuer) ?? {}
    keySets.set(issuer, cache)
    await oauth.validateApplicationLevelSignature(server, response, { ...options, [oauth.jwksCache]: cache })
    const claims = oauth.getValidatedIdTokenClaims(result)
    if (!claims) throw new ProviderFailure('no_id_token')
    let profile: Record<string, unknown> = claims
    if (typeof claims.email !== 'string' && server.userinfo_endpoint) {
      const info = await oauth.userInfoRequest(server, client, result.access_token, options)
      profile = { ...(await oauth.processUserInfoResponse(server, client, claims.sub, info)), sub: claims.sub }
    }
    return {
      subject: claims.sub,
      email: typeof profile.email === 'string' ? profile.email : undefined,
      // A string "true" (some providers send one) does not count.
      emailVerified: profile.email_verified === true,
      username: typeof profile.preferred_username === 'string' ? profile.preferred_username : undefined,
    }
  } catch (error) {
    if (error instanceof ProviderFailure) throw error
    const code = (error as { code?: unknown }).code
    throw new ProviderFailure(typeof code === 'string' ? code : 'provider_error')
  }
}

/** GitHub's user and its verified primary address (`/user`, `/user/emails`). */
async function githubIdentity(provider: ProviderSettings, accessToken: string): Promise<ProviderIdentity> {
  const api = provider.issuer ? `${provider.issuer}/api/v3` : 'https://api.github.com'
  const headers = { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'user-agent': 'edge-users' }
  const [userResponse, emailsResponse] = await Promise.all([fetch(`${api}/user`, { headers }), fetch(`${api}/user/emails`, { headers })])
  if (!userResponse.ok || !emailsResponse.ok) throw new ProviderFailure('github_api')
  const user = (await userResponse.json()) as { id?: unknown; login?: unknown }
  const emails = (await emailsResponse.json()) as { email?: unknown; primary?: unknown; verified?: unknown }[]
  if (typeof user.id !== 'number' && typeof user.id !== 'string') throw new ProviderFailure('github_user')
  const primary = Array.isArray(emails) ? emails.find((entry) => entry.primary === true) : undefined
  return {
    subject: String(user.id),
    email: typeof primary?.email === 'string' ? primary.email : undefined,
    emailVerified: primary?.verified === true,
    username: typeof user.login === 'string' ? user.login : undefined,
  }
}
