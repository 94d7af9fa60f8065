import {
  grantOfCode,
  hashOpaqueToken,
  newRefreshToken,
  rotatedRefreshToken,
  rotationsBehind,
  sessionOfRefreshToken,
} from '../auth/opaque-tokens'
import { signEdDsaJwt, signRs256Jwt } from '../auth/tokens'
import { endGrant, findGrant, findGrantByCode, findLiveGrant, redeemCode, rotateGrantToken, unrotateGrantToken } from '../db/oauth-grants'
import { activeOrganizationOf, activeOrgIdOf, listOrganizationsOf } from '../db/orgs'
import type { OAuthClientRow, OAuthGrantRow, UserRow } from '../db/schema'
import { sha256, toBase64Url } from '../lib/encoding'
import { log } from '../log'
import type { SignInContext } from '../sign-in/context'
import { audienceFor } from './client-credentials'
import { OAuthError } from './oauth-error'

/*
 * The token endpoint's grants on a person's authorization: the code's exchange (once; a second
 * presentation ends what the first issued) and the refresh (the same rotation chain as the API's
 * sessions, with its grace window for retries and family revocation for reuse). Both answer with
 * an RFC 9068 access token whose audience is one resource the grant names, and the code's
 * exchange with an ID token when `openid` was granted.
 */

const PKCE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/

type TokenAnswer = {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  scope: string
  refresh_token?: string
  id_token?: string
}

/** The resource a token is for: one the grant was given for (narrowing, never widening), or the only one it names. */
function audienceOf(ctx: SignInContext, grant: OAuthGrantRow, asked: string[]): string {
  // The issuer itself is a resource only for an authorization that named none (or named it).
  const allowed = grant.resources.length === 0 ? [ctx.config.publicUrl] : grant.resources
  if (asked.some((resource) => !allowed.includes(resource)))
    throw new OAuthError('invalid_target', 'That resource was not part of the authorization.')
  if (asked.length === 0 && grant.resources.length > 1)
    throw new OAuthError('invalid_target', 'The authorization names several resources: ask for one of them.')
  return audienceFor(ctx.config, asked.length > 0 ? asked : grant.resources)
}

async function tokensFor(
  ctx: SignInContext,
  client: OAuthClientRow,
  grant: OAuthGrantRow,
  user: UserRow,
  input: { audience: string; refreshToken?: string; withIdToken: boolean; scopes?: string[] },
): Promise<TokenAnswer> {
  const { config } = ctx
  const now = Math.floor(ctx.now.getTime() / 1000)
  const authTime = Math.floor(grant.authTime.getTime() / 1000)
  const scope = (input.scopes ?? grant.scopes).join(' ')
  const accessToken = await signEdDsaJwt(config.keys, 'at+jwt', {
    iss: config.publicUrl,
    sub: user.id,
    aud: input.audience,
    client_id: client.id,
    scope,
    grant_id: grant.id,
    auth_time: authTime,
    acr: grant.aal,
    iat: now,
    exp: now + config.accessTokenTtlSeconds,
    jti: crypto.randomUUID(),
  })
  const answer: TokenAnswer = { access_token: accessToken, token_type: 'Bearer', expires_in: config.accessTokenTtlSeconds, scope }
  if (input.refreshToken) answer.refresh_token = input.refreshToken
  if (input.withIdToken && grant.scopes.includes('openid')) {
    const claims = {
      iss: config.publicUrl,
      sub: user.id,
      aud: client.id,
      iat: now,
      exp: now + config.accessTokenTtlSeconds,
      auth_time: authTime,
      ...(grant.nonce ? { nonce: grant.nonce } : {}),
      acr: grant.aal,
      amr: grant.amr,
      sid: grant.sessionId,
      ...(await claimsFor(ctx, grant.scopes, user, grant.sessionId)),
    }
    const rsa = config.keys.rsaSigning
    answer.id_token =
      client.idTokenAlg === 'RS256' && rsa ? await signRs256Jwt(rsa, 'JWT', claims) : await signEdDsaJwt(config.keys, 'JWT', claims)
  }
  return answer
}

/** The role an organization claim names first: the strongest built-in one, else the first the member holds. */
const ROLE_ORDER = ['owner', 'admin', 'member']
const leadingRole = (roles: string[]) => ROLE_ORDER.find((role) => roles.includes(role)) ?? roles[0] ?? 'member'

/**
 * The organization an ID token or userinfo describes under the `organization` scope: the one the
 * grant's browser session works in, while the person is a member, else the only one they belong
 * to. For display and routing at the client: like the account API's claims, never authorization.
 */
async function organizationClaims(ctx: SignInContext, userId: string, sessionId: string) {
  const activeOrgId = await activeOrgIdOf(ctx.db, sessionId)
  const active = activeOrgId ? await activeOrganizationOf(ctx.db, { orgId: activeOrgId, userId }) : undefined
  const only = active ? undefined : await listOrganizationsOf(ctx.db, userId)
  const org = active ?? (only?.length === 1 ? { id: only[0]!.org.id, slug: only[0]!.org.slug, roles: only[0]!.roles } : undefined)
  return org ? { org_id: org.id, org_slug: org.slug, org_role: leadingRole(org.roles), org_roles: org.roles } : {}
}

/** The claims the granted scopes allow about the person (OIDC Core §5.4): for the ID token and userinfo. */
export async function claimsFor(ctx: SignInContext, scopes: readonly string[], user: UserRow, sessionId: string) {
  return {
    ...(scopes.includes('email') ? { email: user.email, email_verified: user.emailVerified } : {}),
    ...(scopes.includes('profile') ? { preferred_username: user.username } : {}),
    ...(scopes.includes('organization') ? await organizationClaims(ctx, user.id, sessionId) : {}),
  }
}

/** The PKCE challenge a verifier answers (S256, RFC 7636 §4.2). */
async function challengeOf(verifier: string): Promise<string> {
  return toBase64Url(await sha256(verifier))
}

/** The authorization_code grant (OAuth 2.1 §4.1.3). */
export async function exchangeCode(
  ctx: SignInContext,
  client: OAuthClientRow,
  input: { code: string | null; redirectUri: string | null; verifier: string | null; resources: string[] },
): Promise<TokenAnswer> {
  if (!client.grantTypes.includes('authorization_code'))
    throw new OAuthError('unauthorized_client', 'This client may not use the authorization_code grant.')
  if (!input.code) throw new OAuthError('invalid_request', 'code is required.')
  if (!input.redirectUri) throw new OAuthError('invalid_request', 'redirect_uri is required.')
  if (!input.verifier) throw new OAuthError('invalid_request', 'code_verifier is required (PKCE).')
  if (!PKCE_VERIFIER.test(input.verifier)) throw new OAuthError('invalid_request', 'code_verifier must be 43-128 unreserved characters.')
  const [codeHash, codeChallenge] = await Promise.all([hashOpaqueToken(input.code), challengeOf(input.verifier)])
  const wantsRefresh = client.grantTypes.includes('refresh_token')
  const redeem = async (grantId: string, servable?: string[]) => {
    const refreshToken = wantsRefresh ? newRefreshToken(grantId) : undefined
    const redeemed = await redeemCode(ctx.db, {
      grantId,
      codeHash,
      clientId: client.id,
      redirectUri: input.redirectUri ?? '',
      codeChallenge,
      refreshTokenHash: refreshToken ? await hashOpaqueToken(refreshToken) : null,
      servable,
      now: ctx.now,
    })
    return redeemed && { ...redeemed, refreshToken }
  }
  const issue = (redeemed: NonNullable<Awaited<ReturnType<typeof redeem>>>, audience: string) =>
    tokensFor(ctx, client, redeemed.grant, redeemed.user, { audience, refreshToken: redeemed.refreshToken, withIdToken: true })

  // The code names its grant, so the usual exchange (no resource asked) spends it in one write
  // that holds only where the grant names no resource or one still served: nothing read first.
  const named = grantOfCode(input.code)
  if (named && input.resources.length === 0) {
    const redeemed = await redeem(named, [ctx.config.publicUrl, ...ctx.config.oauthResources])
    if (redeemed) return issue(redeemed, audienceOf(ctx, redeemed.grant, []))
  }
  // Otherwise (a resource asked, or the write refused) the code's grant is judged as it stands.
  const pending = await findGrantByCode(ctx.db, codeHash)
  if (!pending || pending.clientId !== client.id)
    throw new OAuthError('invalid_grant', 'The code is unknown, expired or not this client’s.')
  const replayed = async (grant: OAuthGrantRow): Promise<never> => {
    // Presented again: a copy of it is in other hands. What its first use issued ends now.
    await endGrant(ctx.db, {
      grantId: grant.id,
      userId: grant.userId,
      action: 'oauth.code_replayed',
      actorId: null,
      client: ctx.caller,
      now: ctx.now,
    })
    log('warn', 'oauth.code_replayed', { request_id: ctx.requestId, grant_id: grant.id, client_id: client.id })
    throw new OAuthError('invalid_grant', 'The code was already used; what it issued is revoked.')
  }
  if (pending.codeUsedAt) return replayed(pending)
  // Judged before the code is spent: a refused request must leave the code to its rightful use.
  const audience = audienceOf(ctx, pending, input.resources)
  const mismatch = new OAuthError(
    'invalid_grant',
    'The code is expired, or redirect_uri or code_verifier does not match the authorization.',
  )
  // Tried already, on the same conditions: what refused it was the code's own (expired, redirect_uri or verifier).
  if (named && input.resources.length === 0) throw mismatch
  const redeemed = await redeem(pending.id)
  if (!redeemed) {
    // Two presentations at once: the other one spent it between our read and our write. Still a replay.
    const now = await findGrantByCode(ctx.db, codeHash)
    if (now?.codeUsedAt && now.clientId === client.id) return replayed(now)
    throw mismatch
  }
  return issue(redeemed, audience)
}

/** The refresh_token grant: rotation, a retry's grace, reuse ending the grant (RFC 9700 §4.14.2). */
export async function refreshGrant(
  ctx: SignInContext,
  client: OAuthClientRow,
  input: { refreshToken: string | null; resources: string[]; scope: string | null },
): Promise<TokenAnswer> {
  if (!client.grantTypes.includes('refresh_token'))
    throw new OAuthError('unauthorized_client', 'This client may not use the refresh_token grant.')
  if (!input.refreshToken) throw new OAuthError('invalid_request', 'refresh_token is required.')
  const grantId = sessionOfRefreshToken(input.refreshToken)
  const invalid = new OAuthError('invalid_grant', 'The refresh token is unknown, expired or revoked.')
  if (!grantId) throw invalid
  const next = await rotatedRefreshToken(ctx.config.refreshKey, grantId, input.refreshToken)
  const [oldHash, newHash] = await Promise.all([hashOpaqueToken(input.refreshToken), hashOpaqueToken(next)])
  const asked = input.scope === null ? undefined : [...new Set(input.scope.split(' ').filter(Boolean))]
  const answer = async (grant: OAuthGrantRow, user: UserRow) => {
    // A narrower scope narrows this access token only; the grant keeps what was allowed.
    if (asked?.some((scope) => !grant.scopes.includes(scope)))
      throw new OAuthError('invalid_scope', 'A refresh may not widen the scopes granted.')
    const audience = audienceOf(ctx, grant, input.resources)
    return tokensFor(ctx, client, grant, user, { audience, refreshToken: next, withIdToken: false, scopes: asked })
  }

  const rotated = await rotateGrantToken(ctx.db, { grantId, clientId: client.id, oldHash, newHash, now: ctx.now })
  if (rotated) {
    try {
      return await answer(rotated.grant, rotated.user)
    } catch (refused) {
      // A refused request changes nothing: the presented token is current again, so the client's
      // next request with it is not taken for a replay.
      await unrotateGrantToken(ctx.db, { grantId, fromHash: newHash, toHash: oldHash })
      throw refused
    }
  }
  const grant = await findGrant(ctx.db, grantId)
  if (!grant || grant.clientId !== client.id || !grant.refreshTokenHash) throw invalid
  const behind = await rotationsBehind(ctx.config.refreshKey, input.refreshToken, {
    sessionId: grant.id,
    refreshTokenHash: grant.refreshTokenHash,
    rotations: grant.rotations,
  })
  if (behind === undefined) throw invalid
  const withinGrace = ctx.now.getTime() - grant.lastUsedAt.getTime() < ctx.config.refreshReuseGraceSeconds * 1000
  if (behind === 1 && withinGrace && grant.expiresAt > ctx.now) {
    // A retry of the latest rotation (its answer was lost): the same replacement again, if the grant still stands.
    const live = await findLiveGrant(ctx.db, grantId, ctx.now)
    if (live && live.grant.refreshTokenHash === newHash) return answer(live.grant, live.user)
    throw invalid
  }
  await endGrant(ctx.db, {
    grantId,
    userId: grant.userId,
    action: 'oauth.refresh_reuse_detected',
    actorId: null,
    client: ctx.caller,
    now: ctx.now,
  })
  log('warn', 'oauth.refresh_reuse_detected', { request_id: ctx.requestId, grant_id: grantId, client_id: client.id })
  throw invalid
}
