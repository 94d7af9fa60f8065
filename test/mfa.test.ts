import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { totpCode } from '../src/auth/totp'
import {
  adminCall,
  asAdmin,
  call,
  claimsOf,
  deliver,
  expectProblem,
  linkIn,
  login,
  mailRig,
  me,
  refresh,
  secretOf,
  signedIn,
  totpFor,
  verifiedSignedIn,
  withTotp,
} from './helpers'
import { clockAt, mfaTokenFor, pairOf, passwordStep, secondStep } from './mfa-helpers'

afterEach(() => {
  vi.useRealTimers()
})

describe('TOTP codes', () => {
  it('match the RFC 6238 test vectors (SHA-1), to the last six digits', () => {
    const seed = new TextEncoder().encode('12345678901234567890')
    const vectors: [number, string][] = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ]
    for (const [seconds, code] of vectors) expect(totpCode(seed, Math.floor(seconds / 30)), String(seconds)).toBe(code.slice(-6))
  })

  it('are what the tests’ own authenticator computes too, for the same vectors', async () => {
    const seed = new TextEncoder().encode('12345678901234567890')
    expect(await totpFor(seed, 59_000, 8)).toBe('94287082')
    expect(await totpFor(seed, 1111111109_000, 8)).toBe('07081804')
    expect(await totpFor(seed, 20000000000_000, 8)).toBe('65353130')
  })
})

describe('enrolment', () => {
  it('gives a 160-bit secret, its otpauth URI as apps read it and that URI as an SVG QR code; pending until confirmed', async () => {
    const { account, tokens } = await verifiedSignedIn()
    const started = await call('/users/me/mfa/totp', { token: tokens.access_token, json: { password: account.password } })
    expect(started.status).toBe(200)
    expect(started.headers.get('Cache-Control')).toBe('no-store')
    const body = (await started.json()) as { secret: string; otpauth_uri: string; qr_svg: string }
    expect(body.secret).toMatch(/^[A-Z2-7]{32}$/)
    expect(body.otpauth_uri).toBe(
      `otpauth://totp/edge-users:${account.username}?secret=${body.secret}&issuer=edge-users&algorithm=SHA1&digits=6&period=30`,
    )
    expect(body.qr_svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    // Pending: not shown, and the password alone still signs in.
    const status = await call('/users/me/mfa', { token: tokens.access_token })
    expect(await status.json()).toEqual({ totp: null, recovery_codes_left: 0, passkeys: 0 })
    expect((await passwordStep(account)).status).toBe(200)
  })

  it('activates with a first code: ten recovery codes once, this session aal2, every other session ended', async () => {
    const { account, tokens } = await verifiedSignedIn()
    const other = await login(account)
    const started = (await (
      await call('/users/me/mfa/totp', { token: tokens.access_token, json: { password: account.password } })
    ).json()) as {
      otpauth_uri: string
    }
    const secret = secretOf(started.otpauth_uri)
    await expectProblem(
      await call('/users/me/mfa/totp/confirm', { token: tokens.access_token, json: { code: '000000' } }),
      401,
      'invalid_mfa_code',
    )
    const confirmed = await call('/users/me/mfa/totp/confirm', { token: tokens.access_token, json: { code: await totpFor(secret) } })
    expect(confirmed.status).toBe(200)
    const { recovery_codes } = (await confirmed.json()) as { recovery_codes: string[] }
    expect(recovery_codes).toHaveLength(10)
    expect(new Set(recovery_codes).size).toBe(10)
    for (const code of recovery_codes) expect(code).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/)

    expect((await me(other.access_token)).status).toBe(401)
    const refreshed = await pairOf(await refresh(tokens.refresh_token))
    expect(claimsOf(refreshed.access_token)).toMatchObject({ aal: 'aal2', amr: ['pwd', 'otp', 'mfa'] })
    const status = (await (await call('/users/me/mfa', { token: tokens.access_token })).json()) as Record<string, unknown>
    expect(status).toMatchObject({ totp: { enabled: true }, recovery_codes_left: 10, passkeys: 0 })
  })

  it('stores the secret sealed and the recovery codes only as hashes', async () => {
    const { user, enrolment, recoveryCodes } = await withTotp()
    const factor = await env.DB.prepare('SELECT secret FROM totp_factors WHERE user_id = ?').bind(user.id).first<{ secret: string }>()
    expect(factor?.secret).not.toContain(enrolment.secret)
    expect(factor?.secret).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/)
    const codes = await env.DB.prepare('SELECT code_hash FROM recovery_codes WHERE user_id = ?').bind(user.id).all<{ code_hash: string }>()
    const stored = JSON.stringify(codes.results)
    for (const code of recoveryCodes) {
      expect(stored).not.toContain(code)
      expect(stored).not.toContain(code.replace(/-/g, ''))
    }
  })

  it('names the product as the issuer: PRODUCT_NAME unless TOTP_ISSUER is set', async () => {
    const { account, tokens } = await verifiedSignedIn()
    const issuerOf = async (bindings: Record<string, string>) => {
      const started = await call('/users/me/mfa/totp', { token: tokens.access_token, json: { password: account.password }, env: bindings })
      return new URL(((await started.json()) as { otpauth_uri: string }).otpauth_uri).searchParams.get('issuer')
    }
    expect(await issuerOf({ PRODUCT_NAME: 'Acme Accounts' })).toBe('Acme Accounts')
    expect(await issuerOf({ PRODUCT_NAME: 'Acme Accounts', TOTP_ISSUER: 'Acme' })).toBe('Acme')
  })

  it('refuses a second factor while one is active', async () => {
    const { account, tokens } = await withTotp()
    await expectProblem(
      await call('/users/me/mfa/totp', { token: tokens.access_token, json: { password: account.password } }),
      409,
      'mfa_already_enabled',
    )
  })

  it('is a sensitive action: refused on a session proved too long ago', async () => {
    const { account, tokens } = await verifiedSignedIn()
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const env = { REAUTH_MAX_AGE_SECONDS: '1' }
    await expectProblem(
      await call('/users/me/mfa/totp', { token: tokens.access_token, json: { password: account.password }, env }),
      403,
      'reauthentication_required',
    )
  })
})

describe('login with a second factor', () => {
  it('answers the right password with mfa_required and no tokens, then gives an aal2 pair for a code', async () => {
    const { account, secret } = await withTotp()
    const clock = clockAt()
    clock.steps(1)
    const response = await passwordStep(account)
    const problem = await expectProblem(response, 403, 'mfa_required')
    expect(problem).toMatchObject({ methods: ['totp', 'recovery_code'], expires_in: 300 })
    expect(problem.mfa_token).toEqual(expect.any(String))
    expect(JSON.stringify(problem)).not.toMatch(/access_token|refresh_token/)

    const pair = await pairOf(await secondStep({ mfa_token: problem.mfa_token, code: await totpFor(secret) }))
    expect(claimsOf(pair.access_token)).toMatchObject({ aal: 'aal2', amr: ['pwd', 'otp', 'mfa'] })
    expect((await me(pair.access_token)).status).toBe(200)
  })

  it('still asks for the wrong password’s plain 401 first: the factor reveals nothing before the password', async () => {
    const { account } = await withTotp()
    await expectProblem(await passwordStep({ ...account, password: 'not-the-password-at-all' }), 401, 'invalid_credentials')
  })

  it('accepts a code once: the same code on a second login is refused', async () => {
    const { account, secret } = await withTotp()
    const clock = clockAt()
    clock.steps(1)
    const code = await totpFor(secret)
    await pairOf(await secondStep({ mfa_token: await mfaTokenFor(account), code }))
    await expectProblem(await secondStep({ mfa_token: await mfaTokenFor(account), code }), 401, 'invalid_mfa_code')
  })

  it('accepts one of ten simultaneous second steps with the same code', async () => {
    const { account, secret } = await withTotp()
    const clock = clockAt()
    clock.steps(1)
    const code = await totpFor(secret)
    // Each password step counts in the streak until a second step succeeds: room for ten.
    const generous = { LOGIN_FREE_FAILURES: '50' }
    const tokens = await Promise.all(Array.from({ length: 10 }, () => mfaTokenFor(account, generous)))
    const answers = await Promise.all(tokens.map((mfa_token) => secondStep({ mfa_token, code }, generous)))
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, ...Array(9).fill(401)])
  })

  it('opens one session for five right answers to one mfa_token sent at once', async () => {
    const { account, secret } = await withTotp()
    const clock = clockAt()
    clock.steps(1)
    const code = await totpFor(secret)
    const generous = { LOGIN_FREE_FAILURES: '50' }
    const mfa_token = await mfaTokenFor(account, generous)
    const answers = await Promise.all(Array.from({ length: 5 }, () => secondStep({ mfa_token, code }, generous)))
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401, 401, 401, 401])
    const sessions = await env.DB.prepare('SELECT count(*) AS n FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = ?)')
      .bind(account.username)
      .first<{ n: number }>()
    // The enrolment's own session, and the one this step opened.
    expect(sessions?.n).toBe(2)
  })

  it('accepts a code one step either side of now, and refuses older ones', async () => {
    const { account, secret } = await withTotp()
    const clock = clockAt()
    clock.steps(3)
    const twoStepsAgo = await totpFor(secret, clock.now() - 60_000)
    await expectProblem(await secondStep({ mfa_token: await mfaTokenFor(account), code: twoStepsAgo }), 401, 'invalid_mfa_code')
    await pairOf(await secondStep({ mfa_token: await mfaTokenFor(account), code: await totpFor(secret, clock.now() - 30_000) }))
    clock.steps(3)
    await pairOf(await secondStep({ mfa_token: await mfaTokenFor(account), code: await totpFor(secret, clock.now() + 30_000) }))
  })

  it('gives an mfa_token five wrong codes, then refuses it; and it works once', async () => {
    const { account, secret } = await withTotp()
    const clock = clockAt()
    clock.steps(1)
    const generous = { LOGIN_FREE_FAILURES: '50' }
    const mfa_token = await mfaTokenFor(account, generous)
    for (let i = 0; i < 5; i++) await expectProblem(await secondStep({ mfa_token, code: '000000' }, generous), 401, 'invalid_mfa_code')
    await expectProblem(await secondStep({ mfa_token, code: await totpFor(secret) }, generous), 401, 'invalid_mfa_token')

    const used = await mfaTokenFor(account, generous)
    await pairOf(await secondStep({ mfa_token: used, code: await totpFor(secret) }, generous))
    clock.steps(1)
    await expectProblem(await secondStep({ mfa_token: used, code: await totpFor(secret) }, generous), 401, 'invalid_mfa_token')
  })

  it('expires the mfa_token after 300 seconds', async () => {
    const { account, secret } = await withTotp()
    const clock = clockAt()
    const mfa_token = await mfaTokenFor(account)
    clock.steps(11) // 330 s
    await expectProblem(await secondStep({ mfa_token, code: await totpFor(secret) }), 401, 'invalid_mfa_token')
  })

  it('counts wrong codes in the account’s login backoff, and audits each', async () => {
    const { account, user } = await withTotp()
    const env = { LOGIN_FREE_FAILURES: '2' }
    const mfa_token = await mfaTokenFor(account)
    await expectProblem(await secondStep({ mfa_token, code: '000000' }, env), 401, 'invalid_mfa_code')
    const throttled = await secondStep({ mfa_token, code: '000000' }, env)
    await expectProblem(throttled, 429, 'rate_limited')
    // The password step shares the same streak.
    await expectProblem(await passwordStep(account, env), 429, 'rate_limited')
    const admin = await asAdmin()
    const events = (await (await adminCall(admin.token, `/audit?user_id=${user.id}&action=user.mfa_failed`)).json()) as {
      events: unknown[]
    }
    expect(events.events).toHaveLength(1)
  })

  it('takes a recovery code instead, once', async () => {
    const { account, recoveryCodes } = await withTotp()
    const pair = await pairOf(await secondStep({ mfa_token: await mfaTokenFor(account), recovery_code: recoveryCodes[0]!.toUpperCase() }))
    expect(claimsOf(pair.access_token)).toMatchObject({ aal: 'aal2', amr: ['pwd', 'rc', 'mfa'] })
    await expectProblem(
      await secondStep({ mfa_token: await mfaTokenFor(account), recovery_code: recoveryCodes[0] }),
      401,
      'invalid_mfa_code',
    )
    const status = (await (await call('/users/me/mfa', { token: pair.access_token })).json()) as Record<string, unknown>
    expect(status.recovery_codes_left).toBe(9)
  })

  it('refuses another account’s code and recovery codes', async () => {
    const { account } = await withTotp()
    const other = await withTotp()
    await expectProblem(
      await secondStep({ mfa_token: await mfaTokenFor(account), code: await totpFor(other.secret, Date.now() + 30_000) }),
      401,
      'invalid_mfa_code',
    )
    await expectProblem(
      await secondStep({ mfa_token: await mfaTokenFor(account), recovery_code: other.recoveryCodes[0] }),
      401,
      'invalid_mfa_code',
    )
  })

  it('keeps asking after a password reset: a reset never removes the factor, and kills a pending step', async () => {
    const rig = mailRig()
    const { account, secret } = await withTotp()
    const pending = await mfaTokenFor(account)
    await call('/users/password/forgot', { json: { email: account.email }, env: rig.env })
    await deliver(rig.jobs.splice(0), rig)
    const newPassword = 'quiet-meadow-lighthouse-42'
    expect(
      (await call('/users/password/reset', { json: { token: linkIn(rig.sent.at(-1)).token, new_password: newPassword } })).status,
    ).toBe(204)
    const clock = clockAt()
    clock.steps(1)
    await expectProblem(await secondStep({ mfa_token: pending, code: await totpFor(secret) }), 401, 'invalid_mfa_token')
    await expectProblem(await passwordStep({ username: account.username, password: newPassword }), 403, 'mfa_required')
  })

  it('refuses the second step of a disabled account', async () => {
    const { account, user, secret } = await withTotp()
    const mfa_token = await mfaTokenFor(account)
    const admin = await asAdmin()
    await adminCall(admin.token, `/users/${user.id}`, { method: 'PATCH', json: { disabled: true } })
    await expectProblem(await secondStep({ mfa_token, code: await totpFor(secret, Date.now() + 30_000) }), 403, 'account_disabled')
  })
})

describe('step-up and management', () => {
  it('re-authenticates an account with a factor only with the password and a code', async () => {
    const { account, tokens, secret } = await withTotp()
    await expectProblem(
      await call('/users/me/reauthenticate', { token: tokens.access_token, json: { password: account.password } }),
      400,
      'validation_failed',
    )
    const clock = clockAt()
    clock.steps(1)
    await expectProblem(
      await call('/users/me/reauthenticate', { token: tokens.access_token, json: { password: account.password, code: '000000' } }),
      401,
      'invalid_mfa_code',
    )
    const proved = await call('/users/me/reauthenticate', {
      token: tokens.access_token,
      json: { password: account.password, code: await totpFor(secret) },
    })
    expect(proved.status).toBe(200)
    expect(await proved.json()).toMatchObject({ aal: 'aal2', amr: ['pwd', 'otp', 'mfa'] })
  })

  it('needs an aal2 proof within the window for a password change on an account with a factor', async () => {
    const { account, tokens } = await withTotp()
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const env = { REAUTH_MAX_AGE_SECONDS: '1' }
    const change = await call('/users/me/password', {
      token: tokens.access_token,
      json: { current_password: account.password, new_password: 'quiet-meadow-lighthouse-42' },
      env,
    })
    const problem = await expectProblem(change, 403, 'reauthentication_required')
    expect(problem).toMatchObject({ required_aal: 'aal2' })
  })

  it('removes the factor: sessions keep working at the assurance they can still claim, logins need the password only', async () => {
    const { account, tokens } = await withTotp()
    expect((await call('/users/me/mfa/totp', { method: 'DELETE', token: tokens.access_token })).status).toBe(204)
    const refreshed = await pairOf(await refresh(tokens.refresh_token))
    expect(claimsOf(refreshed.access_token)).toMatchObject({ aal: 'aal1', amr: ['pwd'] })
    expect(await (await call('/users/me/mfa', { token: refreshed.access_token })).json()).toEqual({
      totp: null,
      recovery_codes_left: 0,
      passkeys: 0,
    })
    expect((await passwordStep(account)).status).toBe(200)
  })

  it('replaces the recovery codes: the old set is dead', async () => {
    const { account, tokens, recoveryCodes } = await withTotp()
    const replaced = await call('/users/me/mfa/recovery-codes', { method: 'POST', token: tokens.access_token })
    expect(replaced.status).toBe(200)
    const { recovery_codes } = (await replaced.json()) as { recovery_codes: string[] }
    await expectProblem(
      await secondStep({ mfa_token: await mfaTokenFor(account), recovery_code: recoveryCodes[1] }),
      401,
      'invalid_mfa_code',
    )
    await pairOf(await secondStep({ mfa_token: await mfaTokenFor(account), recovery_code: recovery_codes[1] }))
  })

  it('lets an admin reset a lost device: factor and codes gone, sessions ended, audited', async () => {
    const { account, user, tokens } = await withTotp()
    const admin = await asAdmin()
    expect((await adminCall(admin.token, `/users/${user.id}/mfa`, { method: 'DELETE' })).status).toBe(204)
    expect((await me(tokens.access_token)).status).toBe(401)
    const pair = await pairOf(await passwordStep(account))
    expect(claimsOf(pair.access_token)).toMatchObject({ aal: 'aal1' })
    const events = (await (await adminCall(admin.token, `/audit?user_id=${user.id}&action=admin.mfa_reset`)).json()) as {
      events: unknown[]
    }
    expect(events.events).toHaveLength(1)
  })

  it('keeps the admin reset from moderators', async () => {
    const { user } = await withTotp()
    const moderator = await signedIn()
    const admin = await asAdmin()
    await adminCall(admin.token, `/users/${moderator.user.id}`, { method: 'PATCH', json: { role: 'moderator' } })
    const response = await adminCall(moderator.tokens.access_token, `/users/${user.id}/mfa`, { method: 'DELETE' })
    await expectProblem(response, 403, 'forbidden')
  })
})
