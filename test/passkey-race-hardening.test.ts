import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SoftAuthenticator, type SoftCredential } from './authenticator'
import { call, expectProblem, verifiedSignedIn } from './helpers'
import { clockAt, mfaTokenFor, passwordStep } from './mfa-helpers'

afterEach(() => {
  vi.useRealTimers()
})

/*
 * A passkey assertion that loses the counter's compare-and-set (a rival assertion read
 * against the same count landed first) must open nothing and record nothing: no last_login_at,
 * no last_auth_at (which ends the account's failure streak, rate-limit/durable-object.ts).
 *
 * The race is made deterministic: the request runs on a D1 binding that, just before the batch
 * carrying the passkey's compare-and-set, lets a rival write advance the stored counter (as a
 * rival assertion's batch would, without that rival recording anything on the account).
 */

type RequestOptions = { challenge_id: string; options: Record<string, unknown> & { challenge: string } }

async function json<T>(response: Response, status: number): Promise<T> {
  const body = await response.text()
  expect(response.status, body).toBe(status)
  return JSON.parse(body) as T
}

async function withPasskey() {
  const { account, user, tokens } = await verifiedSignedIn()
  const authenticator = new SoftAuthenticator()
  const { challenge_id, options } = await json<RequestOptions>(
    await call('/users/me/passkeys/options', { token: tokens.access_token, json: { password: account.password } }),
    200,
  )
  const made = await authenticator.register(options as never, { counter: 5 })
  const added = await call('/users/me/passkeys', {
    token: tokens.access_token,
    json: { challenge_id, credential: made.response, name: 'Laptop' },
  })
  expect(added.status, await added.clone().text()).toBe(201)
  return { account, user, tokens, authenticator, credential: made.credential as SoftCredential }
}

/** The binding, with `rival` run once just before the first batch that holds the passkey counter's set. */
function rivalBeforePasskeyBatch(real: D1Database, rival: () => Promise<unknown>): D1Database {
  let armed = true
  let sawPasskeySet = false
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(t, prop) {
        const inner = t as unknown as Record<string, (...args: unknown[]) => unknown>
        if (prop === 'prepare')
          return (sql: string) => {
            if (/update "passkeys" set "counter"/i.test(sql)) sawPasskeySet = true
            return inner.prepare!.call(t, sql)
          }
        if (prop === 'batch')
          return async (statements: unknown) => {
            if (armed && sawPasskeySet) {
              armed = false
              await rival()
            }
            return inner.batch!.call(t, statements)
          }
        if (prop === 'withSession') return (...args: unknown[]) => wrap(inner.withSession!.apply(t, args) as object)
        const value = Reflect.get(t, prop)
        return typeof value === 'function' ? value.bind(t) : value
      },
    })
  return wrap(real)
}

const OLD = 1_000

async function marksOf(userId: string) {
  return env.DB.prepare('SELECT last_login_at AS login, last_auth_at AS auth FROM users WHERE id = ?')
    .bind(userId)
    .first<{ login: number | null; auth: number | null }>()
}

async function setOldMarks(userId: string) {
  await env.DB.prepare('UPDATE users SET last_login_at = ?, last_auth_at = ? WHERE id = ?').bind(OLD, OLD, userId).run()
}

const rivalAdvances = (userId: string) => () =>
  env.DB.prepare("UPDATE passkeys SET counter = counter + 1, used_by = 'rival' WHERE user_id = ?").bind(userId).run()

async function sessionsOf(userId: string) {
  return (await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = ?').bind(userId).first<{ n: number }>())!.n
}

/** A passwordless sign-in that succeeds, so the account's failure streak starts empty. */
async function passkeySignIn(authenticator: SoftAuthenticator, credential: SoftCredential, bindings: Record<string, string>) {
  const fresh = await json<RequestOptions>(await call('/users/passkeys/login/options', { json: {} }), 200)
  const signedIn = await call('/users/passkeys/login', {
    json: { challenge_id: fresh.challenge_id, credential: await authenticator.assert(fresh.options as never, credential, { counter: 6 }) },
    env: bindings,
  })
  expect(signedIn.status, await signedIn.clone().text()).toBe(200)
}

describe('a passkey that loses its counter race records nothing on the account', () => {
  it('second step after a password: the loser is invalid_mfa_code and leaves last_login_at / last_auth_at alone', async () => {
    const { account, user, authenticator, credential } = await withPasskey()
    const step = (await expectProblem(
      await call('/users/login', { json: { username: account.username, password: account.password } }),
      403,
      'mfa_required',
    )) as unknown as { mfa_token: string }
    const { challenge_id, options } = await json<RequestOptions>(
      await call('/users/login/mfa/passkey-options', { json: { mfa_token: step.mfa_token } }),
      200,
    )
    const assertion = await authenticator.assert(options as never, credential, { counter: 10 })
    await setOldMarks(user.id)
    const sessionsBefore = await sessionsOf(user.id)
    const answer = await call('/users/login/mfa', {
      json: { mfa_token: step.mfa_token, challenge_id, passkey: assertion },
      env: { DB: rivalBeforePasskeyBatch(env.DB, rivalAdvances(user.id)) },
    })
    await expectProblem(answer, 401, 'invalid_mfa_code')
    expect(await sessionsOf(user.id)).toBe(sessionsBefore)
    // The lost race opened no session, so it must record no sign-in and end no failure streak.
    expect(await marksOf(user.id)).toEqual({ login: OLD, auth: OLD })
  })

  it('passwordless sign-in: the loser is passkey_failed and records nothing', async () => {
    const { user, authenticator, credential } = await withPasskey()
    const { challenge_id, options } = await json<RequestOptions>(await call('/users/passkeys/login/options', { json: {} }), 200)
    const assertion = await authenticator.assert(options as never, credential, { counter: 10 })
    await setOldMarks(user.id)
    const answer = await call('/users/passkeys/login', {
      json: { challenge_id, credential: assertion },
      env: { DB: rivalBeforePasskeyBatch(env.DB, rivalAdvances(user.id)) },
    })
    await expectProblem(answer, 401, 'passkey_failed')
    expect(await marksOf(user.id)).toEqual({ login: OLD, auth: OLD })
  })

  it('re-authentication: the loser is passkey_failed, audited, and records nothing', async () => {
    const { user, tokens, authenticator, credential } = await withPasskey()
    const token = tokens.access_token
    const { challenge_id, options } = await json<RequestOptions>(
      await call('/users/me/reauthenticate/passkey-options', { method: 'POST', token }),
      200,
    )
    const assertion = await authenticator.assert(options as never, credential, { counter: 10 })
    await setOldMarks(user.id)
    const answer = await call('/users/me/reauthenticate', {
      token,
      json: { challenge_id, passkey: assertion },
      env: { DB: rivalBeforePasskeyBatch(env.DB, rivalAdvances(user.id)) },
    })
    await expectProblem(answer, 401, 'passkey_failed')
    expect(await marksOf(user.id)).toEqual({ login: OLD, auth: OLD })
  })
  it('second step: a lost race does not end the failure streak (the next attempt still waits out the backoff)', async () => {
    const { account, user, authenticator, credential } = await withPasskey()
    clockAt()
    const strict = { LOGIN_FREE_FAILURES: '2' }
    // A success first, so the streak starts empty.
    await passkeySignIn(authenticator, credential, strict)
    // The password step: failure 1 of the streak (it ends only with the second step's success).
    const mfa_token = await mfaTokenFor(account, strict)
    const { challenge_id, options } = await json<RequestOptions>(
      await call('/users/login/mfa/passkey-options', { json: { mfa_token } }),
      200,
    )
    const assertion = await authenticator.assert(options as never, credential, { counter: 10 })
    // The lost race: failure 2.
    const lost = await call('/users/login/mfa', {
      json: { mfa_token, challenge_id, passkey: assertion },
      env: { ...strict, DB: rivalBeforePasskeyBatch(env.DB, rivalAdvances(user.id)) },
    })
    await expectProblem(lost, 401, 'invalid_mfa_code')
    // Two failures with two free: the next attempt waits (429), as after any wrong answer.
    await expectProblem(await passwordStep(account, strict), 429, 'rate_limited')
  })
  it('a wrong recovery code in the place of the lost race keeps the streak (the next attempt waits)', async () => {
    const { account, authenticator, credential } = await withPasskey()
    clockAt()
    const strict = { LOGIN_FREE_FAILURES: '2' }
    await passkeySignIn(authenticator, credential, strict)
    const mfa_token = await mfaTokenFor(account, strict)
    const wrong = await call('/users/login/mfa', { json: { mfa_token, recovery_code: 'aaaa-bbbb-cccc-dddd' }, env: strict })
    expect(wrong.status, await wrong.clone().text()).toBe(401)
    await expectProblem(await passwordStep(account, strict), 429, 'rate_limited')
  })
})
