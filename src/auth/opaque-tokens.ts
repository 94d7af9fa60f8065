import { randomBytes, sha256, toBase64Url, utf8 } from '../lib/encoding'

/** 256 bits from the CSPRNG; the contract asks for at least 128. */
const TOKEN_BYTES = 32

/** A refresh token, or a token in a reset or verification link. */
export function newOpaqueToken(): string {
  return toBase64Url(randomBytes(TOKEN_BYTES))
}

/**
 * What the database keeps instead of the token. A fast hash is enough: the token is 256 random
 * bits, so there is nothing to brute-force, and a stolen table yields no usable token.
 */
export async function hashOpaqueToken(token: string): Promise<string> {
  return toBase64Url(await sha256(token))
}

/**
 * A new session's refresh token: the session's id, a dot, then 256 random bits. Naming the
 * session lets a presented token be checked against that one session's state, so no record of
 * rotated-away tokens is kept (see rotationsBehind).
 */
export function newRefreshToken(sessionId: string): string {
  return `${sessionId}.${newOpaqueToken()}`
}

const REFRESH_TOKEN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.[A-Za-z0-9_-]{43}$/

/**
 * An authorization code: its grant's id, a tilde (never a dot, so no code passes for a refresh
 * token), then 256 random bits. Naming the grant lets the exchange make the refresh token, which
 * names it too, before it reads anything, and spend the code in one write.
 */
export function newAuthorizationCode(grantId: string): string {
  return `${grantId}~${newOpaqueToken()}`
}

const AUTHORIZATION_CODE = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})~[A-Za-z0-9_-]{43}$/

/** The grant a code names; undefined for anything that is not a code we issue. */
export function grantOfCode(code: string): string | undefined {
  return AUTHORIZATION_CODE.exec(code)?.[1]
}

/** The session a refresh token names; undefined for anything that is not a refresh token we issue. */
export function sessionOfRefreshToken(token: string): string | undefined {
  return REFRESH_TOKEN.exec(token)?.[1]
}

/**
 * The refresh token that replaces `presented` (a token of session `sessionId`) at a rotation: the
 * session's id again, then 256 bits of HMAC under a server key, so nobody without the key can
 * predict it, and a retry of the same refresh (a lost response) gets the very same token back
 * instead of a second one.
 */
export async function rotatedRefreshToken(key: CryptoKey, sessionId: string, presented: string): Promise<string> {
  const mac = toBase64Url(new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8.encode(`refresh:${presented}`))))
  return `${sessionId}.${mac}`
}

/**
 * How far back a replayed refresh token is recognised: 512 rotations, about five days of a client
 * refreshing every 15 minutes. The walk is bounded so that a made-up token for a known session
 * costs the server no more than a login attempt (docs/benchmark.md has the measured cost).
 */
export const MAX_ROTATIONS_WALKED = 512

/**
 * How many rotations ago `presented` was the session's refresh token, or undefined if it never
 * was (at most `rotations`, and MAX_ROTATIONS_WALKED, steps are walked). Each token determines
 * the next (rotatedRefreshToken), so a replaced token reaches the session's current hash by being
 * rotated forward.
 */
export async function rotationsBehind(
  key: CryptoKey,
  presented: string,
  session: { sessionId: string; refreshTokenHash: string; rotations: number },
): Promise<number | undefined> {
  let token = presented
  for (let steps = 1; steps <= Math.min(session.rotations, MAX_ROTATIONS_WALKED); steps++) {
    token = await rotatedRefreshToken(key, session.sessionId, token)
    if ((await hashOpaqueToken(token)) === session.refreshTokenHash) return steps
  }
  return undefined
}
