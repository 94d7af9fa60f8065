import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MAX_ROTATIONS_WALKED } from '../src/auth/opaque-tokens'
import { call, claimsOf, expectProblem, failingFields, login, me, refresh, signedIn, signup, type TokenPair } from './helpers'

afterEach(() => {
  vi.useRealTimers()
})

async function refreshed(refreshToken: string): Promise<TokenPair> {
  const response = await refresh(refreshToken)
  expect(response.status, await response.clone().text()).toBe(200)
  return (await response.json()) as TokenPair
}

describe('refresh', () => {
  it('rotates the refresh token: a new pair for the same session, not cacheable', async () => {
    const { tokens, user } = await signedIn()
    const response = await refresh(tokens.refresh_token)
    expect(response.status).toBe(200)
    expect(response.headers.get('Cache-Control')).toBe('no-store')
    const next = (await response.json()) as TokenPair
    expect(next.refresh_token).not.toBe(tokens.refresh_token)
    expect(next.access_token).not.toBe(tokens.access_token)
    expect(next.user).toEqual(user)
    expect(claimsOf(next.access_token).sid).toBe(claimsOf(tokens.access_token).sid)
    expect((await me(next.access_token)).status).toBe(200)
  })

  it('treats a rotated token presented again after REFRESH_REUSE_GRACE_SECONDS as theft and ends the session', async () => {
    const { tokens } = await signedIn()
    const next = await refreshed(tokens.refresh_token)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 10_001)
    await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token')
    // The reuse above ended the session, so even the newest token is dead now.
    await expectProblem(await refresh(next.refresh_token), 401, 'invalid_refresh_token')
  })

  it('still catches a replayed refresh token, and still answers a retry, after the signing key is rotated', async () => {
    const { tokens } = await signedIn()
    const next = await refreshed(tokens.refresh_token)
    const rotated = { JWT_PRIVATE_KEYS: JSON.stringify([JSON.parse(env.TEST_SPARE_KEY), JSON.parse(env.JWT_PRIVATE_KEYS)[0]]) }
    // Within the grace window a retry gets the same replacement, under the new signing key too.
    const retried = await refresh(tokens.refresh_token, { env: rotated })
    expect(retried.status).toBe(200)
    expect(((await retried.json()) as TokenPair).refresh_token).toBe(next.refresh_token)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 10_001)
    await expectProblem(await refresh(tokens.refresh_token, { env: rotated }), 401, 'invalid_refresh_token')
    // Recognised as a replay: the session ended, its newest token with it.
    await expectProblem(await refresh(next.refresh_token, { env: rotated }), 401, 'invalid_refresh_token')
  })

  it('answers a refresh retried within the grace window with the same new refresh token, and keeps one live token', async () => {
    const { tokens } = await signedIn()
    const first = await refreshed(tokens.refresh_token)
    const retried = await refreshed(tokens.refresh_token)
    expect(retried.refresh_token).toBe(first.refresh_token)
    expect((await me(retried.access_token)).status).toBe(200)
    const onward = await refreshed(first.refresh_token)
    // Once the replacement has been used, the original is no retry any more: it is theft.
    await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token')
    await expectProblem(await refresh(onward.refresh_token), 401, 'invalid_refresh_token')
  })

  it('counts any reuse as theft when REFRESH_REUSE_GRACE_SECONDS is 0', async () => {
    const { tokens } = await signedIn()
    const strict = { env: { REFRESH_REUSE_GRACE_SECONDS: '0' } }
    const next = (await (await refresh(tokens.refresh_token, strict)).json()) as { refresh_token: string }
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 1)
    await expectProblem(await refresh(tokens.refresh_token, strict), 401, 'invalid_refresh_token')
    await expectProblem(await refresh(next.refresh_token, strict), 401, 'invalid_refresh_token')
  })

  it('revokes the whole session, access tokens included, when a rotated token is presented again', async () => {
    const { tokens } = await signedIn()
    const second = await refreshed(tokens.refresh_token)
    const third = await refreshed(second.refresh_token)
    // An attacker replays the first token, long since rotated.
    await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token')
    await expectProblem(await refresh(third.refresh_token), 401, 'invalid_refresh_token')
    await expectProblem(await me(third.access_token), 401, 'unauthorized')
    await expectProblem(await me(tokens.access_token), 401, 'unauthorized')
  })

  it('leaves the user’s other sessions alone when one session is revoked for reuse', async () => {
    const { account, tokens } = await signedIn()
    const other = await login(account)
    await refreshed(tokens.refresh_token)
    await refresh(tokens.refresh_token)
    expect((await me(other.access_token)).status).toBe(200)
    expect((await refresh(other.refresh_token)).status).toBe(200)
  })

  it('gives ten simultaneous refreshes with one token one and the same new refresh token: no second token family', async () => {
    const { tokens } = await signedIn()
    const responses = await Promise.all(Array.from({ length: 10 }, () => refresh(tokens.refresh_token)))
    const pairs = (await Promise.all(responses.map((response) => response.json()))) as { refresh_token?: string }[]
    expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200))
    expect(new Set(pairs.map((pair) => pair.refresh_token)).size).toBe(1)
    expect((await refresh(pairs[0]!.refresh_token!)).status).toBe(200)
  })

  it('keeps the session’s absolute expiry: rotation does not extend it', async () => {
    const { tokens } = await signedIn()
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 10 * 86_400_000)
    const next = await refreshed(tokens.refresh_token)
    expect(next.refresh_expires_in).toBeLessThanOrEqual(20 * 86_400)
    expect(next.refresh_expires_in).toBeGreaterThan(20 * 86_400 - 60)
  })

  it('refuses a refresh token once REFRESH_TOKEN_TTL_SECONDS have passed since login', async () => {
    const { tokens } = await signedIn()
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 2_592_000_000 + 1_000)
    await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token')
  })

  it('ends the session at its expiry, for an access token that has not expired yet too', async () => {
    const { account } = await signup()
    const tokens = await login(account, { env: { REFRESH_TOKEN_TTL_SECONDS: '60' } })
    vi.useFakeTimers({ toFake: ['Date'] })
    const loggedInAt = Date.now()
    vi.setSystemTime(loggedInAt + 59_000)
    expect((await me(tokens.access_token)).status).toBe(200)
    vi.setSystemTime(loggedInAt + 61_000) // the access token has 14 minutes left
    await expectProblem(await me(tokens.access_token), 401, 'unauthorized')
  })

  it('refuses an unknown refresh token, and asks for a missing one', async () => {
    await expectProblem(await refresh('never-issued-token-never-issued-token-abcde'), 401, 'invalid_refresh_token')
    expect(await failingFields(await call('/users/refresh', { json: {} }))).toEqual(['refresh_token'])
    expect(await failingFields(await call('/users/refresh', { json: { refresh_token: 12 } }))).toEqual(['refresh_token'])
  })

  it('carries a role change into the next access token', async () => {
    const { tokens, user } = await signedIn()
    const { env } = await import('cloudflare:workers')
    await env.DB.prepare("UPDATE users SET role = 'moderator' WHERE id = ?").bind(user.id).run()
    const next = await refreshed(tokens.refresh_token)
    expect(claimsOf(next.access_token).role).toBe('moderator')
    expect(next.user.role).toBe('moderator')
  })

  it('keeps the session’s assurance: auth_time, amr and aal as the login set them, however late the refresh', async () => {
    const { tokens } = await signedIn()
    const atLogin = claimsOf(tokens.access_token)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 3_600_000)
    const next = await refreshed(tokens.refresh_token)
    const later = claimsOf(next.access_token)
    expect(later.iat as number).toBeGreaterThan((atLogin.iat as number) + 3000)
    expect({ auth_time: later.auth_time, amr: later.amr, aal: later.aal }).toEqual({
      auth_time: atLogin.auth_time,
      amr: ['pwd'],
      aal: 'aal1',
    })
  })
})

describe('refresh tokens that name their session', () => {
  const stored = (sessionId: string) =>
    env.DB.prepare('SELECT rotations, refresh_token_hash FROM sessions WHERE id = ?')
      .bind(sessionId)
      .first<{ rotations: number; refresh_token_hash: string }>()
  const afterGrace = () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 10_001)
  }

  it('names the session and keeps no record of the tokens it replaced', async () => {
    const { tokens } = await signedIn()
    const sessionId = claimsOf(tokens.access_token).sid as string
    let token = tokens.refresh_token
    for (let i = 0; i < 3; i++) token = (await refreshed(token)).refresh_token
    expect(token.startsWith(`${sessionId}.`)).toBe(true)
    // One row per session, whatever its history: the current hash and a count, nothing per token.
    expect(await stored(sessionId)).toEqual({ rotations: 3, refresh_token_hash: expect.any(String) })
    expect(await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE id = ?').bind(sessionId).first('n')).toBe(1)
  })

  it('ends the session when a token several rotations old comes back', async () => {
    const { tokens } = await signedIn()
    const second = await refreshed(tokens.refresh_token)
    const third = await refreshed(second.refresh_token)
    const fourth = await refreshed(third.refresh_token)
    afterGrace()
    await expectProblem(await refresh(second.refresh_token), 401, 'invalid_refresh_token')
    await expectProblem(await refresh(fourth.refresh_token), 401, 'invalid_refresh_token')
    expect((await me(fourth.access_token)).status).toBe(401)
  })

  it('refuses a made-up token for a real session and leaves the session alone', async () => {
    const { tokens } = await signedIn()
    await refreshed((await refreshed(tokens.refresh_token)).refresh_token)
    const sessionId = claimsOf(tokens.access_token).sid as string
    const madeUp = `${sessionId}.${'A'.repeat(43)}`
    await expectProblem(await refresh(madeUp), 401, 'invalid_refresh_token')
    const other = await signedIn()
    // Another session's genuine token under this session's id is not one of this session's.
    const swapped = `${sessionId}.${other.tokens.refresh_token.split('.')[1]}`
    await expectProblem(await refresh(swapped), 401, 'invalid_refresh_token')
    expect((await me(tokens.access_token)).status).toBe(200)
    expect((await refresh(other.tokens.refresh_token)).status).toBe(200)
  })

  it(`refuses a replay older than ${MAX_ROTATIONS_WALKED} rotations without ending the session`, { timeout: 60_000 }, async () => {
    const { tokens } = await signedIn()
    let current = tokens
    for (let i = 0; i <= MAX_ROTATIONS_WALKED; i++) current = await refreshed(current.refresh_token)
    afterGrace()
    await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token')
    expect((await me(current.access_token)).status).toBe(200)
  })

  it('refuses a token that names no session, as tokens before sessions were named looked', async () => {
    await signedIn()
    const unnamed = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '')
    await expectProblem(await refresh(unnamed), 401, 'invalid_refresh_token')
  })
})

describe('logout', () => {
  it('ends the session: its access and refresh tokens stop working at once', async () => {
    const { tokens } = await signedIn()
    const response = await call('/users/logout', { method: 'POST', token: tokens.access_token })
    expect(response.status).toBe(204)
    expect(await response.text()).toBe('')
    await expectProblem(await me(tokens.access_token), 401, 'unauthorized')
    await expectProblem(await refresh(tokens.refresh_token), 401, 'invalid_refresh_token')
  })

  it('keeps the user’s other sessions', async () => {
    const { account, tokens } = await signedIn()
    const other = await login(account)
    await call('/users/logout', { method: 'POST', token: tokens.access_token, json: {} })
    expect((await me(other.access_token)).status).toBe(200)
  })

  it('also ends the session of a refresh token sent along, when it is the caller’s', async () => {
    const { account, tokens } = await signedIn()
    const other = await login(account)
    const response = await call('/users/logout', { token: tokens.access_token, json: { refresh_token: other.refresh_token } })
    expect(response.status).toBe(204)
    await expectProblem(await refresh(other.refresh_token), 401, 'invalid_refresh_token')
  })

  it('leaves another user’s session alone when their refresh token is sent', async () => {
    const { tokens } = await signedIn()
    const victim = await signedIn()
    await call('/users/logout', { token: tokens.access_token, json: { refresh_token: victim.tokens.refresh_token } })
    expect((await me(victim.tokens.access_token)).status).toBe(200)
    expect((await refresh(victim.tokens.refresh_token)).status).toBe(200)
  })

  it('requires an access token', async () => {
    const response = await call('/users/logout', { method: 'POST' })
    await expectProblem(response, 401, 'unauthorized')
    expect(response.headers.get('WWW-Authenticate')).toBe('Bearer')
  })
})

describe('my sessions', () => {
  it('lists the live sessions, newest first, marking the current one', async () => {
    const { account } = await signup()
    const first = await login(account, { headers: { 'User-Agent': 'first-device/1.0' } })
    const second = await login(account, { headers: { 'User-Agent': 'second-device/2.0' } })
    const response = await call('/users/me/sessions', { token: first.access_token })
    expect(response.status).toBe(200)
    const { sessions } = (await response.json()) as { sessions: Record<string, unknown>[] }
    expect(sessions.map((s) => s.user_agent)).toEqual(['second-device/2.0', 'first-device/1.0'])
    expect(sessions.map((s) => s.current)).toEqual([false, true])
    expect(sessions[1]).toEqual({
      id: claimsOf(first.access_token).sid,
      created_at: expect.any(String),
      last_used_at: expect.any(String),
      expires_at: expect.any(String),
      user_agent: 'first-device/1.0',
      current: true,
    })
    expect(JSON.stringify(sessions)).not.toContain(second.refresh_token)
  })

  it('updates last_used_at when the session is refreshed', async () => {
    const { tokens } = await signedIn()
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 60_000)
    const next = await refreshed(tokens.refresh_token)
    const { sessions } = (await (await call('/users/me/sessions', { token: next.access_token })).json()) as {
      sessions: { created_at: string; last_used_at: string }[]
    }
    expect(Date.parse(sessions[0]!.last_used_at) - Date.parse(sessions[0]!.created_at)).toBeGreaterThanOrEqual(60_000)
  })

  it('ends one of my other sessions', async () => {
    const { account, tokens } = await signedIn()
    const other = await login(account)
    const response = await call(`/users/me/sessions/${claimsOf(other.access_token).sid}`, { method: 'DELETE', token: tokens.access_token })
    expect(response.status).toBe(204)
    await expectProblem(await me(other.access_token), 401, 'unauthorized')
    expect((await me(tokens.access_token)).status).toBe(200)
  })

  it('answers 404 for another user’s session and leaves it alone', async () => {
    const { tokens } = await signedIn()
    const victim = await signedIn()
    const response = await call(`/users/me/sessions/${claimsOf(victim.tokens.access_token).sid}`, {
      method: 'DELETE',
      token: tokens.access_token,
    })
    await expectProblem(response, 404, 'not_found')
    expect((await me(victim.tokens.access_token)).status).toBe(200)
  })

  it('answers 404 for a session that does not exist', async () => {
    const { tokens } = await signedIn()
    await expectProblem(
      await call(`/users/me/sessions/${crypto.randomUUID()}`, { method: 'DELETE', token: tokens.access_token }),
      404,
      'not_found',
    )
    await expectProblem(await call('/users/me/sessions/not-a-uuid', { method: 'DELETE', token: tokens.access_token }), 404, 'not_found')
  })
})
