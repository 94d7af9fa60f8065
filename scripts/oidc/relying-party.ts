/**
 * openid-client (panva's certified relying party library) against the OpenID Provider: discovery,
 * the authorization code flow with PKCE and a nonce through Chromium, the ID token and userinfo,
 * refresh with rotation, introspection, revocation, and a machine client's client_credentials.
 * openid-client checks what a relying party must (iss, state, PKCE, nonce, the ID token's
 * signature with enableNonRepudiationChecks); the checks here add what this provider promises.
 */
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import * as client from 'openid-client'
import { createClient, type Person } from './accounts.ts'
import { authorizeInBrowser, type Browser, type BrowserContext, followToClient } from './browser.ts'
import { callWhoami } from './mcp.ts'
import { check, ensure, step } from './report.ts'
import { tracedFetch } from './trace.ts'

export type RelyingPartyInput = {
  base: string
  browser: Browser
  adminToken: string
  person: Person
  personId: string
  /** A port nothing listens on: the web client's redirect URI is there, played by Chromium's interception. */
  clientPort: number
  /** The MCP server's resource URI, which OAUTH_RESOURCES lists, for a machine token meant for it (the server runs by then). */
  resource: string
}

/** openid-client's options for a local issuer: plain http allowed, the ID token's signature checked, every request traced. */
const discoveryOptions: client.DiscoveryRequestOptions = {
  execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
  [client.customFetch]: tracedFetch as client.CustomFetch,
}

/** The OAuth error code a refused request carries, or how it failed otherwise ('accepted' when it did not). */
async function refusal(attempt: Promise<unknown>): Promise<string> {
  try {
    await attempt
    return 'accepted'
  } catch (error) {
    if (error instanceof client.ResponseBodyError || error instanceof client.AuthorizationResponseError) return error.error
    return `${(error as Error).name}: ${(error as Error).message}`
  }
}

const issuerUrl = (base: string) => new URL(base)

/**
 * One authorization request as openid-client builds it (PKCE S256, nonce, state, and `extra`),
 * followed by Chromium through sign-in and consent; the redirect back, and what the code grant must check.
 */
async function authorize(
  input: RelyingPartyInput,
  config: client.Configuration,
  web: { name: string; redirectUri: string },
  extra: Record<string, string> = {},
  browsing: { answer?: 'Allow' | 'Deny'; context?: BrowserContext; expectSignIn?: boolean } = {},
) {
  const verifier = client.randomPKCECodeVerifier()
  const nonce = client.randomNonce()
  const state = client.randomState()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: web.redirectUri,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
    ...extra,
  })
  const back = await authorizeInBrowser(input.browser, {
    url,
    redirectUri: web.redirectUri,
    person: input.person,
    clientName: web.name,
    ...browsing,
  })
  return { back, state, nonce, checks: { pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state } }
}

export async function checkAuthorizationCodeFlow(input: RelyingPartyInput): Promise<void> {
  const { base, person } = input
  const redirectUri = `http://localhost:${input.clientPort}/callback`
  const signedOut = `http://localhost:${input.clientPort}/signed-out`
  const name = 'OIDC Check Web App'
  const web = await createClient(base, input.adminToken, {
    name,
    type: 'confidential',
    redirect_uris: [redirectUri],
    post_logout_redirect_uris: [signedOut],
    grant_types: ['authorization_code', 'refresh_token'],
  })
  const config = await step('openid-client discovers the issuer (GET /.well-known/openid-configuration)', () =>
    client.discovery(
      issuerUrl(base),
      web.id,
      { client_secret: web.secret, id_token_signed_response_alg: 'RS256' },
      client.ClientSecretBasic(web.secret),
      discoveryOptions,
    ),
  )
  const metadata = config.serverMetadata()

  const { back, state, nonce, checks } = await step(
    `Chromium signs ${person.username} in on the hosted page, allows, and is sent back to the client`,
    () => authorize(input, config, { name, redirectUri }),
  )
  check(
    back.searchParams.has('code') && back.searchParams.get('state') === state && back.searchParams.get('iss') === metadata.issuer,
    `the redirect carries code, the state and iss=${metadata.issuer} (${[...back.searchParams.keys()].join(', ')})`,
  )

  const tokens = await step('authorizationCodeGrant exchanges the code (iss, state, PKCE, nonce and the ID token checked)', () =>
    client.authorizationCodeGrant(config, back, checks),
  )
  const claims = tokens.claims()
  ensure(claims !== undefined, 'the token answer has an ID token')
  const idToken = tokens.id_token!
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri!))
  const header = decodeProtectedHeader(idToken)
  await step(`the ID token verifies with RS256 against the JWKS (kid ${header.kid}, alg ${header.alg})`, () =>
    jwtVerify(idToken, jwks, { issuer: metadata.issuer, audience: web.id, algorithms: ['RS256'] }),
  )
  const now = Date.now() / 1000
  check(claims.sub === input.personId, `the ID token's sub is the account's id (${claims.sub})`)
  check(
    claims.aud === web.id || (Array.isArray(claims.aud) && claims.aud.includes(web.id)),
    `the ID token's aud is the client (${claims.aud})`,
  )
  check(claims.nonce === nonce, "the ID token's nonce is the request's")
  check(typeof claims.acr === 'string' && claims.acr !== '', `the ID token has an acr (${claims.acr})`)
  check(
    typeof claims.auth_time === 'number' && claims.auth_time <= now + 5 && claims.auth_time > now - 600,
    `the ID token's auth_time is the sign-in just now (${claims.auth_time})`,
  )
  check(
    claims.email === person.email && claims.preferred_username === person.username,
    `the ID token names the person: email ${claims.email}, preferred_username ${claims.preferred_username}`,
  )
  check(typeof tokens.refresh_token === 'string', 'offline_access brought a refresh token')
  check(
    (tokens.scope ?? '').split(' ').includes('openid'),
    `the token answer's scope includes openid (${tokens.scope ?? 'no scope: the one asked for'})`,
  )

  const info = await step('fetchUserInfo with the access token (GET /oauth2/userinfo)', () =>
    client.fetchUserInfo(config, tokens.access_token, claims.sub),
  )
  check(
    info.email === person.email && info.preferred_username === person.username && info.email_verified === true,
    `userinfo names the person (email ${info.email}, verified ${info.email_verified}, preferred_username ${info.preferred_username})`,
  )

  const me = await fetch(`${base}/api/v1/users/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })
  check(
    me.status === 401,
    `the account API refuses the OpenID Provider's access token: GET /api/v1/users/me answers ${me.status}`,
    await me.text(),
  )

  const refreshed = await step('refreshTokenGrant renews the tokens', () => client.refreshTokenGrant(config, tokens.refresh_token!))
  ensure(
    typeof refreshed.refresh_token === 'string' && refreshed.refresh_token !== tokens.refresh_token,
    'the refresh rotates the refresh token (a new one, unlike the old)',
  )
  await step('the renewed access token works at userinfo', () => client.fetchUserInfo(config, refreshed.access_token, claims.sub))

  const active = await step('tokenIntrospection of the access token (POST /oauth2/introspect)', () =>
    client.tokenIntrospection(config, refreshed.access_token),
  )
  check(
    active.active === true && active.sub === claims.sub && active.client_id === web.id,
    `introspection says active, with the person's sub and the client's id (${JSON.stringify({ active: active.active, sub: active.sub, client_id: active.client_id })})`,
  )

  await step('tokenRevocation of the refresh token (POST /oauth2/revoke)', () => client.tokenRevocation(config, refreshed.refresh_token!))
  const afterRevocation = await refusal(client.refreshTokenGrant(config, refreshed.refresh_token!))
  check(afterRevocation === 'invalid_grant', `a refresh with the revoked refresh token fails with invalid_grant (${afterRevocation})`)
  const revoked = await step('tokenIntrospection of the revoked refresh token', () =>
    client.tokenIntrospection(config, refreshed.refresh_token!),
  )
  check(revoked.active === false, `introspection says the revoked refresh token is not active (${JSON.stringify(revoked)})`)

  // Rotation proper needs a grant nobody revoked: a second authorization (a new browser, so a new
  // sign-in; the consent given above may be remembered). The dev server runs with
  // REFRESH_REUSE_GRACE_SECONDS at 0, so presenting a rotated-away token again is a replay at once.
  const second = await step('a second authorization by the same person gets a new grant', async () => {
    const again = await authorize(input, config, { name, redirectUri })
    return client.authorizationCodeGrant(config, again.back, again.checks)
  })
  const rotated = await step('refreshTokenGrant rotates its refresh token', () => client.refreshTokenGrant(config, second.refresh_token!))
  const replay = await refusal(client.refreshTokenGrant(config, second.refresh_token!))
  check(replay === 'invalid_grant', `the rotated-away refresh token, presented again, is refused with invalid_grant (${replay})`)
  const family = await refusal(client.refreshTokenGrant(config, rotated.refresh_token!))
  check(family === 'invalid_grant', `the replay ended the grant (RFC 9700 §4.14.2): its newest refresh token is refused too (${family})`)

  // The other answer on the consent page: openid-client checks state and iss, then reads the error.
  const denied = await step('with prompt=consent the consent page shows again, and the person presses Deny', () =>
    authorize(input, config, { name, redirectUri }, { prompt: 'consent' }, { answer: 'Deny' }),
  )
  check(
    denied.back.searchParams.get('error') === 'access_denied' && !denied.back.searchParams.has('code'),
    `Deny sends the browser back with error=access_denied and no code (${[...denied.back.searchParams.keys()].join(', ')})`,
  )
  const outcome = await refusal(client.authorizationCodeGrant(config, denied.back, denied.checks))
  check(outcome === 'access_denied', `openid-client reads the answer as access_denied after checking state and iss (${outcome})`)

  // RP-initiated logout, in one browser profile: signed in through the client, signed out through
  // buildEndSessionUrl, and the next authorization asks for the password again.
  const profile = await input.browser.newContext()
  try {
    const signedIn = await step('in a kept browser profile, the person signs in through the client', async () => {
      const again = await authorize(input, config, { name, redirectUri }, {}, { context: profile })
      return client.authorizationCodeGrant(config, again.back, again.checks)
    })
    const logoutState = client.randomState()
    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: signedIn.id_token!,
      post_logout_redirect_uri: signedOut,
      state: logoutState,
    })
    const afterLogout = await step(`buildEndSessionUrl (${metadata.end_session_endpoint}) sends the browser back to ${signedOut}`, () =>
      followToClient(profile, endSession.href, signedOut),
    )
    check(afterLogout.searchParams.get('state') === logoutState, `the way back carries the logout's state (${afterLogout.search})`)
    await step('the browser session ended: the next authorization shows the sign-in page again', () =>
      authorize(input, config, { name, redirectUri }, {}, { context: profile, expectSignIn: true }),
    )
  } finally {
    await profile.close()
  }
}

export async function checkClientCredentials(input: RelyingPartyInput): Promise<void> {
  const { base } = input
  const machine = await createClient(base, input.adminToken, {
    name: 'OIDC Check Machine',
    type: 'confidential',
    redirect_uris: [],
    grant_types: ['client_credentials'],
  })
  const config = await step('openid-client discovers the issuer for the machine client (client_secret_post)', () =>
    client.discovery(issuerUrl(base), machine.id, machine.secret, client.ClientSecretPost(machine.secret), discoveryOptions),
  )
  const metadata = config.serverMetadata()
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri!))
  const own = await step('clientCredentialsGrant gets a machine token', () => client.clientCredentialsGrant(config))
  const verified = await step('the machine token verifies against the JWKS, for the issuer itself', () =>
    jwtVerify(own.access_token, jwks, { issuer: metadata.issuer, audience: metadata.issuer }),
  )
  check(verified.payload.sub === machine.id, `the machine token's sub is the client (${verified.payload.sub})`)
  check(own.refresh_token === undefined && own.id_token === undefined, 'a machine token comes without a refresh token or an ID token')
  const forResource = await step(`clientCredentialsGrant with resource=${input.resource} (RFC 8707)`, () =>
    client.clientCredentialsGrant(config, { resource: input.resource }),
  )
  await step('that token is for the resource (aud)', () =>
    jwtVerify(forResource.access_token, jwks, { issuer: metadata.issuer, audience: input.resource }),
  )
  const caller = await step('the MCP server lets that token call whoami', () => callWhoami(input.resource, forResource.access_token))
  check(caller === machine.id, `whoami answers the machine client's id (${caller})`)
  const elsewhere = await tracedFetch(input.resource, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${own.access_token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: '{}',
  })
  check(
    elsewhere.status === 401 && (elsewhere.headers.get('www-authenticate') ?? '').includes('error="invalid_token"'),
    `the MCP server refuses the machine token meant for the issuer: 401 invalid_token (${elsewhere.status})`,
  )
  const unlisted = await refusal(client.clientCredentialsGrant(config, { resource: 'https://elsewhere.example/api' }))
  check(unlisted === 'invalid_target', `a resource OAUTH_RESOURCES does not list is refused with invalid_target (${unlisted})`)
}
