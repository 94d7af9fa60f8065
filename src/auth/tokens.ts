import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../lib/encoding'
import { memoize } from '../lib/memo'
import type { Assurance } from './assurance'
import type { KeySet } from './keys'
import type { Role } from './roles'

export type AccessClaims = {
  iss: string
  aud: string
  sub: string
  sid: string
  role: Role
  iat: number
  exp: number
  jti: string
  /** When the session's user last proved who they are (NumericDate). */
  auth_time: number
  amr: string[]
  aal: Assurance['aal']
  /** The active organization, for display and routing: every permission is read from the membership. */
  org_id?: string
  org_slug?: string
  org_roles?: string[]
}

/** What signing and verifying access tokens needs of the configuration (which satisfies it). */
export type TokenSettings = { keys: KeySet; issuer: string; audience: string; accessTokenTtlSeconds: number }

const ED25519 = { name: 'Ed25519' } as const
const ACCESS_TOKEN_TYPE = 'at+jwt'
// Header members that would let a token choose its own key or extensions; we never honour them.
const FORBIDDEN_HEADER_MEMBERS = ['jku', 'jwk', 'x5u', 'x5c', 'x5t', 'x5t#S256', 'crit']
// Tolerated difference between our isolates' clocks for `iat` and `nbf`.
const CLOCK_SKEW_SECONDS = 60

const encodeJson = (value: unknown) => toBase64Url(utf8.encode(JSON.stringify(value)))

/** A JWT signed with the current Ed25519 key (EdDSA), of the given `typ`. */
export async function signEdDsaJwt(keys: KeySet, typ: string, claims: object): Promise<string> {
  const { kid, key } = keys.signing
  const signingInput = `${encodeJson({ alg: 'EdDSA', typ, kid })}.${encodeJson(claims)}`
  const signature = new Uint8Array(await crypto.subtle.sign(ED25519, key, utf8.encode(signingInput)))
  return `${signingInput}.${toBase64Url(signature)}`
}

const RS256 = { name: 'RSASSA-PKCS1-v1_5' } as const

/** A JWT signed with the RSA key (RS256): the OpenID Provider's ID tokens, by default. */
export async function signRs256Jwt(signing: { kid: string; key: CryptoKey }, typ: string, claims: object): Promise<string> {
  const signingInput = `${encodeJson({ alg: 'RS256', typ, kid: signing.kid })}.${encodeJson(claims)}`
  const signature = new Uint8Array(await crypto.subtle.sign(RS256, signing.key, utf8.encode(signingInput)))
  return `${signingInput}.${toBase64Url(signature)}`
}

export async function signAccessToken(
  config: TokenSettings,
  subject: {
    userId: string
    sessionId: string
    role: Role
    assurance: Assurance
    /** The organization the session works in, for display and routing only (never authorization). */
    organization?: { id: string; slug: string; roles: string[] }
  },
  nowSeconds: number,
): Promise<string> {
  const { authTime, amr, aal } = subject.assurance
  const claims: AccessClaims = {
    iss: config.issuer,
    aud: config.audience,
    sub: subject.userId,
    sid: subject.sessionId,
    role: subject.role,
    iat: nowSeconds,
    exp: nowSeconds + config.accessTokenTtlSeconds,
    jti: crypto.randomUUID(),
    auth_time: Math.floor(authTime.getTime() / 1000),
    amr,
    aal,
    ...(subject.organization
      ? { org_id: subject.organization.id, org_slug: subject.organization.slug, org_roles: subject.organization.roles }
      : {}),
  }
  return signEdDsaJwt(config.keys, ACCESS_TOKEN_TYPE, claims)
}

/**
 * Tokens this isolate has already verified, with their decoded claims, per configuration (so per
 * key set). A client sends one access token on every request for up to its lifetime, so most
 * authenticated requests present a token seen before; remembering it spares the decoding and the
 * signature check (an Ed25519 verify is the costliest CPU step of an authenticated request).
 * Only the signature is remembered: the claims' times are checked on every request and the session is still read back,
 * so expiry, logout and revocation count exactly as before. The oldest entry goes first when full.
 */
const VERIFIED_TOKENS_KEPT = 1000
const verifiedTokensOf = memoize((_config: TokenSettings) => new Map<string, Record<string, unknown>>())
/** The same for the access tokens the OpenID Provider issued to clients, kept apart (they are never first-party tokens). */
const verifiedClientTokensOf = memoize((_keys: KeySet) => new Map<string, Record<string, unknown>>())

/**
 * Verifies an access token the strict way (RFC 8725, RFC 9068): only EdDSA, only a kid we hold,
 * only `typ` at+jwt, exact issuer and audience, and a present, unexpired `exp`. Returns the claims,
 * or undefined for any token that is not exactly right; the caller answers 401 either way.
 */
export async function verifyAccessToken(config: TokenSettings, token: string, nowSeconds: number): Promise<Verified> {
  const known = verifiedTokensOf(config)
  const seen = known.get(token)
  if (seen) {
    const claims = checkClaims(config, seen, nowSeconds)
    if (!claims) known.delete(token)
    return claims ? { claims } : refusal(config, seen, nowSeconds)
  }
  const claims = await verifySignedClaims(config, token)
  const checked = claims && checkClaims(config, claims, nowSeconds)
  if (checked) {
    if (known.size >= VERIFIED_TOKENS_KEPT) known.delete(known.keys().next().value!)
    known.set(token, claims)
    return { claims: checked }
  }
  return claims ? refusal(config, claims, nowSeconds) : { expired: false }
}

/**
 * The claims of a token that is exactly right, or why not. `expired` is true only for a genuine
 * token (our signature, every claim right) whose sole fault is being past `exp`: telling its holder
 * to refresh reveals nothing to anyone who does not already hold a token we issued.
 */
export type Verified = { claims: AccessClaims; expired?: undefined } | { claims?: undefined; expired: boolean }

function refusal(config: TokenSettings, claims: Record<string, unknown>, now: number): Verified {
  const { exp } = claims
  const expired = isWholeNumber(exp) && exp <= now && checkClaims(config, claims, exp - 1) !== undefined
  return { expired }
}

/** The claims of an access token the OpenID Provider issued to a client, as introspection reports them. */
export type ClientAccessClaims = {
  iss: string
  sub: string
  aud: string
  client_id: string
  iat: number
  exp: number
  jti: string
  scope?: string
  /** A person's token: the grant it was issued under (ended grants end their tokens), and its proof. */
  grant_id?: string
  auth_time?: number
  acr?: string
}

/**
 * Verifies an access token issued to a client (RFC 9068, `iss` the provider's issuer, with
 * `client_id`): our signature, and every claim present and current. Undefined for anything else,
 * a first-party token included.
 */
export async function verifyClientAccessToken(
  keys: KeySet,
  issuer: string,
  token: string,
  nowSeconds: number,
): Promise<ClientAccessClaims | undefined> {
  // A client sends its token on every userinfo or resource call: its signature is checked once per
  // isolate, like a first-party token's (verifiedTokensOf), and its claims on every request.
  const known = verifiedClientTokensOf(keys)
  let claims = known.get(token)
  if (!claims) {
    claims = await verifySignedClaims({ keys }, token)
    if (!claims) return undefined
    if (known.size >= VERIFIED_TOKENS_KEPT) known.delete(known.keys().next().value!)
    known.set(token, claims)
  }
  const { iss, sub, aud, client_id, iat, exp, jti, scope, grant_id, auth_time, acr } = claims
  if (iss !== issuer || typeof sub !== 'string' || typeof aud !== 'string' || typeof client_id !== 'string' || typeof jti !== 'string')
    return undefined
  if (!isWholeNumber(exp) || exp <= nowSeconds) return undefined
  if (!isWholeNumber(iat) || iat > nowSeconds + CLOCK_SKEW_SECONDS) return undefined
  if (scope !== undefined && typeof scope !== 'string') return undefined
  if (grant_id !== undefined && (typeof grant_id !== 'string' || !isWholeNumber(auth_time) || typeof acr !== 'string')) return undefined
  return {
    iss,
    sub,
    aud,
    client_id,
    iat,
    exp,
    jti,
    ...(scope !== undefined ? { scope } : {}),
    ...(typeof grant_id === 'string' ? { grant_id, auth_time: auth_time as number, acr: acr as string } : {}),
  }
}

/** The payload of a token whose header and signature are exactly right, before its claims are checked. */
async function verifySignedClaims(config: Pick<TokenSettings, 'keys'>, token: string): Promise<Record<string, unknown> | undefined> {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string]

  const header = decodeJsonObject(encodedHeader)
  if (header?.alg !== 'EdDSA' || !isAccessTokenType(header.typ)) return undefined
  if (FORBIDDEN_HEADER_MEMBERS.some((member) => member in header)) return undefined
  // A Map lookup, so a kid such as "../x" or "__proto__" is simply unknown.
  const key = typeof header.kid === 'string' ? config.keys.verifying.get(header.kid) : undefined
  if (!key) return undefined

  const signature = fromBase64Url(encodedSignature)
  if (signature?.length !== 64) return undefined
  const signingInput = utf8.encode(`${encodedHeader}.${encodedPayload}`)
  if (!(await crypto.subtle.verify(ED25519, key, signature, signingInput))) return undefined
  return decodeJsonObject(encodedPayload)
}

function checkClaims(config: TokenSettings, claims: Record<string, unknown>, now: number): AccessClaims | undefined {
  const { iss, aud, sub, sid, role, iat, exp, jti, nbf, auth_time, amr, aal } = claims
  if (iss !== config.issuer) return undefined
  // A token the OpenID Provider issued to a client is never a first-party token, whatever the
  // issuer and audience settings (even if JWT_ISSUER were set to PUBLIC_URL).
  if (claims.client_id !== undefined) return undefined
  const audiences = Array.isArray(aud) ? aud : [aud]
  if (!audiences.includes(config.audience)) return undefined
  if (!isWholeNumber(exp) || exp <= now) return undefined
  if (!isWholeNumber(iat) || iat > now + CLOCK_SKEW_SECONDS) return undefined
  if (nbf !== undefined && (!isWholeNumber(nbf) || nbf > now + CLOCK_SKEW_SECONDS)) return undefined
  if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string') return undefined
  if (typeof role !== 'string') return undefined
  // The assurance is informational here: what a request may do is decided from the session row.
  if (!isWholeNumber(auth_time) || !Array.isArray(amr) || !amr.every((method) => typeof method === 'string')) return undefined
  if (aal !== 'aal1' && aal !== 'aal2') return undefined
  return { iss, aud: config.audience, sub, sid, role: role as Role, iat, exp, jti, auth_time, amr, aal }
}

function isAccessTokenType(typ: unknown): boolean {
  if (typeof typ !== 'string') return false
  const normalised = typ.toLowerCase()
  return normalised === ACCESS_TOKEN_TYPE || normalised === `application/${ACCESS_TOKEN_TYPE}`
}

const isWholeNumber = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value)

function decodeJsonObject(encoded: string): Record<string, unknown> | undefined {
  const bytes = fromBase64Url(encoded)
  if (!bytes || bytes.length === 0) return undefined
  try {
    const text = fromUtf8.decode(bytes)
    const value: unknown = JSON.parse(text)
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    // JSON.parse keeps the last of duplicated members; RFC 7519 lets us reject instead, so a
    // claim cannot mean one thing to us and another to a different parser.
    if (hasDuplicateTopLevelKeys(text)) return undefined
    return value as Record<string, unknown>
  } catch {
    return undefined
  }
}

/** Scans already-valid JSON text for an object member name that repeats at the top level. */
export function hasDuplicateTopLevelKeys(json: string): boolean {
  const seen = new Set<string>()
  let depth = 0
  for (let i = 0; i < json.length; i++) {
    const char = json[i]
    if (char === '{' || char === '[') depth++
    else if (char === '}' || char === ']') depth--
    else if (char === '"') {
      let end = i + 1
      while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1
      if (depth === 1) {
        let next = end + 1
        while (/\s/.test(json[next] ?? '')) next++
        if (json[next] === ':') {
          const name = JSON.parse(json.slice(i, end + 1)) as string
          if (seen.has(name)) return true
          seen.add(name)
        }
      }
      i = end
    }
  }
  return false
}

/**
 * An ID token this provider issued, coming back as a hint (RP-initiated logout): our signature
 * (RS256 or EdDSA, by its kid) and our issuer. Its expiry is not checked (OIDC RP-Initiated Logout
 * §2: a hint may be expired); undefined for anything else.
 */
export async function verifyIdTokenHint(
  keys: KeySet,
  issuer: string,
  token: string,
): Promise<{ sub: string; aud: string; sid?: string } | undefined> {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const [encodedHeader, encodedPayload, encodedSignature] = parts as [string, string, string]
  const header = decodeJsonObject(encodedHeader)
  if (!header || typeof header.kid !== 'string' || FORBIDDEN_HEADER_MEMBERS.some((member) => member in header)) return undefined
  const signature = fromBase64Url(encodedSignature)
  if (!signature) return undefined
  const signingInput = utf8.encode(`${encodedHeader}.${encodedPayload}`)
  const valid =
    header.alg === 'RS256'
      ? await verifyWith(RS256, keys.rsaVerifying.get(header.kid), signature, signingInput)
      : header.alg === 'EdDSA' && (await verifyWith(ED25519, keys.verifying.get(header.kid), signature, signingInput))
  if (!valid) return undefined
  const claims = decodeJsonObject(encodedPayload)
  if (!claims || claims.iss !== issuer || typeof claims.sub !== 'string' || typeof claims.aud !== 'string') return undefined
  return { sub: claims.sub, aud: claims.aud, ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}) }
}

async function verifyWith(algorithm: typeof RS256 | typeof ED25519, key: CryptoKey | undefined, signature: Uint8Array, data: Uint8Array) {
  if (!key) return false
  return crypto.subtle.verify(algorithm, key, signature as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>)
}
