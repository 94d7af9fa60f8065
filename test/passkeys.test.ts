import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SoftAuthenticator, type SoftCredential, type Tamper } from './authenticator'
import { adminCall, asAdmin, call, claimsOf, expectProblem, login, type TokenPair, verifiedSignedIn, withTotp } from './helpers'

afterEach(() => {
  vi.useRealTimers()
})

type Options = { challenge_id: string; options: Record<string, unknown> & { challenge: string } }
type CreationOptions = Options & {
  options: {
    rp: { id: string }
    user: { id: string }
    excludeCredentials: { id: string }[]
    authenticatorSelection: Record<string, unknown>
  }
}
type RequestOptions = Options & { options: { rpId: string; allowCredentials?: { id: string }[]; userVerification: string } }

async function json<T>(response: Response, status: number): Promise<T> {
  const body = await response.text()
  expect(response.status, body).toBe(status)
  return JSON.parse(body) as T
}

/** Creation options for an account adding a passkey: its token and, as adding a way in needs, its password. */
async function registrationOptions(token: string, password: string) {
  return json<CreationOptions>(await call('/users/me/passkeys/options', { token, json: { password } }), 200)
}

/** Registers a passkey through the two HTTP steps; returns the answer, and the credential the authenticator keeps. */
async function register(
  token: string,
  password: string,
  authenticator: SoftAuthenticator,
  tamper: Parameters<SoftAuthenticator['register']>[1] = {},
) {
  const { challenge_id, options } = await registrationOptions(token, password)
  const made = await authenticator.register(options, tamper)
  const response = await call('/users/me/passkeys', { token, json: { challenge_id, credential: made.response, name: 'Laptop' } })
  return { response, credential: made.credential, registration: made.response, challenge_id }
}

/** A signed-in account with one passkey: its authenticator, credential, recovery codes and tokens. */
async function withPasskey(tamper: Parameters<SoftAuthenticator['register']>[1] = {}) {
  const { account, user, tokens } = await verifiedSignedIn()
  const authenticator = new SoftAuthenticator()
  const { response, credential } = await register(tokens.access_token, account.password, authenticator, tamper)
  const added = await json<{ passkey: { id: string }; recovery_codes?: string[] }>(response, 201)
  return { account, user, tokens, authenticator, credential, passkeyId: added.passkey.id, recoveryCodes: added.recovery_codes ?? [] }
}

async function signInOptions() {
  return json<RequestOptions>(await call('/users/passkeys/login/options', { json: {} }), 200)
}

/** A passwordless sign-in attempt with this credential. */
async function passkeyLogin(
  authenticator: SoftAuthenticator,
  credential: SoftCredential,
  tamper: Tamper = {},
  bindings?: Record<string, string>,
) {
  const { challenge_id, options } = await signInOptions()
  const assertion = await authenticator.assert(options, credential, tamper)
  return call('/users/passkeys/login', { json: { challenge_id, credential: assertion }, env: bindings })
}

async function mfaToken(account: { username: string; password: string }) {
  const problem = await expectProblem(
    await call('/users/login', { json: { username: account.username, password: account.password } }),
    403,
    'mfa_required',
  )
  return problem as unknown as { mfa_token: string; methods: string[] }
}

async function secondStepOptions(token: string) {
  return json<RequestOptions>(await call('/users/login/mfa/passkey-options', { json: { mfa_token: token } }), 200)
}

async function auditActions(userId: string) {
  const rows = await env.DB.prepare('SELECT action, details FROM audit_events WHERE target_id = ? ORDER BY id').bind(userId).all<{
    action: string
    details: string | null
  }>()
  return rows.results
}

describe('passkey registration', () => {
  it('offers creation options with a resident key and user verification required, attestation none, and the existing passkeys excluded', async () => {
    const { account, tokens, authenticator, credential } = await withPasskey()
    await reauthenticateWithPasskey(tokens.access_token, authenticator, credential)
    const { challenge_id, options } = await registrationOptions(tokens.access_token, account.password)
    expect(challenge_id).toBeTruthy()
    expect(options.rp).toEqual({ id: 'localhost', name: 'edge-users' })
    expect(options.authenticatorSelection).toMatchObject({ residentKey: 'required', userVerification: 'required' })
    expect(options.attestation).toBe('none')
    expect((options.pubKeyCredParams as { alg: number }[]).map((param) => param.alg)).toEqual(expect.arrayContaining([-7, -8, -257]))
    expect(options.excludeCredentials.map((excluded) => excluded.id)).toEqual([toId(credential)])
    expect(options.timeout).toBe(300_000)
  })

  it('shows PRODUCT_NAME as the relying party’s name unless WEBAUTHN_RP_NAME is set', async () => {
    const { account, tokens } = await verifiedSignedIn()
    const nameOf = async (bindings: Record<string, string>) => {
      const offered = await call('/users/me/passkeys/options', {
        token: tokens.access_token,
        json: { password: account.password },
        env: bindings,
      })
      return ((await offered.json()) as { options: { rp: { name: string } } }).options.rp.name
    }
    expect(await nameOf({ PRODUCT_NAME: 'Acme Accounts' })).toBe('Acme Accounts')
    expect(await nameOf({ PRODUCT_NAME: 'Acme Accounts', WEBAUTHN_RP_NAME: 'Acme' })).toBe('Acme')
  })

  it('stores the passkey, shows it by its own id, and gives recovery codes with the first second factor only', async () => {
    const { account, tokens, authenticator, passkeyId, recoveryCodes, credential } = await withPasskey()
    expect(recoveryCodes).toHaveLength(10)
    await reauthenticateWithPasskey(tokens.access_token, authenticator, credential)
    const second = await json<{ passkey: { id: string }; recovery_codes?: string[] }>(
      (await register(tokens.access_token, account.password, authenticator, { algorithm: 'EdDSA', backedUp: true })).response,
      201,
    )
    expect(second.recovery_codes).toBeUndefined()
    const { passkeys } = await json<{ passkeys: Record<string, unknown>[] }>(
      await call('/users/me/passkeys', { token: tokens.access_token }),
      200,
    )
    expect(passkeys.map((passkey) => passkey.id)).toEqual([passkeyId, second.passkey.id])
    // Used once since: the re-authentication above.
    expect(passkeys[0]).toMatchObject({ name: 'Laptop', backed_up: false, transports: ['internal'], last_used_at: expect.any(String) })
    expect(passkeys[1]).toMatchObject({ last_used_at: null })
    expect(passkeys[1]).toMatchObject({ backed_up: true })
    expect(JSON.stringify(passkeys)).not.toContain(toId(credential))
    const status = await json<{ passkeys: number; recovery_codes_left: number }>(
      await call('/users/me/mfa', { token: tokens.access_token }),
      200,
    )
    expect(status).toMatchObject({ passkeys: 2, recovery_codes_left: 10 })
  })

  it('refuses a registration from another origin, for another RP ID, without user verification or of the wrong type', async () => {
    const { account, tokens } = await verifiedSignedIn()
    const authenticator = new SoftAuthenticator()
    for (const tamper of [
      { origin: 'https://evil.example' },
      { rpId: 'evil.example' },
      { userVerified: false },
      { userPresent: false },
      { type: 'webauthn.get' },
      { crossOrigin: true },
    ] satisfies Tamper[]) {
      const { response } = await register(tokens.access_token, account.password, authenticator, tamper)
      await expectProblem(response, 401, 'passkey_failed')
    }
    const { passkeys } = await json<{ passkeys: unknown[] }>(await call('/users/me/passkeys', { token: tokens.access_token }), 200)
    expect(passkeys).toEqual([])
    const failures = (await auditActions(claimsOf(tokens.access_token).sub as string)).filter((row) => row.action === 'user.passkey_failed')
    expect(failures.map((row) => JSON.parse(row.details ?? '{}').reason)).toEqual([
      'origin',
      'rp_id',
      'user_verification',
      'user_presence',
      'type',
      'origin',
    ])
  })

  it('takes each challenge once, only from the session it was made for, and only its own bytes', async () => {
    const { account, tokens } = await verifiedSignedIn()
    const authenticator = new SoftAuthenticator()
    const { challenge_id, options } = await registrationOptions(tokens.access_token, account.password)
    const made = await authenticator.register(options)
    const other = await login(account)
    await expectProblem(
      await call('/users/me/passkeys', { token: other.access_token, json: { challenge_id, credential: made.response } }),
      400,
      'invalid_challenge',
    )
    // The other session's attempt did not spend it; the answer with another challenge's bytes fails.
    const wrongBytes = await authenticator.register(options, { challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })
    await expectProblem(
      await call('/users/me/passkeys', { token: tokens.access_token, json: { challenge_id, credential: wrongBytes.response } }),
      401,
      'passkey_failed',
    )
    await expectProblem(
      await call('/users/me/passkeys', { token: tokens.access_token, json: { challenge_id, credential: made.response } }),
      400,
      'invalid_challenge',
    )
  })

  it('refuses a credential registered already, to anyone, with passkey_exists', async () => {
    const first = await withPasskey()
    const { account, tokens } = await verifiedSignedIn()
    const { challenge_id, options } = await registrationOptions(tokens.access_token, account.password)
    const made = await new SoftAuthenticator().register(options, { id: first.credential.id })
    await expectProblem(
      await call('/users/me/passkeys', { token: tokens.access_token, json: { challenge_id, credential: made.response } }),
      409,
      'passkey_exists',
    )
  })

  it('needs a recent proof: an old session re-authenticates, and once the account has a passkey only aal2 will do', async () => {
    const { account: plainAccount, tokens: plain } = await verifiedSignedIn()
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 301_000)
    const old = await expectProblem(
      await call('/users/me/passkeys/options', { token: plain.access_token, json: { password: plainAccount.password } }),
      403,
      'reauthentication_required',
    )
    expect(old).toMatchObject({ required_aal: 'aal1', methods: ['password'] })
    vi.useRealTimers()
    // Its login was just now, but at aal1: the account's new passkey asks for aal2.
    const { account, tokens } = await withPasskey()
    const weak = await expectProblem(
      await call('/users/me/passkeys/options', { token: tokens.access_token, json: { password: account.password } }),
      403,
      'reauthentication_required',
    )
    expect(weak).toMatchObject({ required_aal: 'aal2', methods: ['password+recovery_code', 'passkey'] })
  })

  it('shows recovery codes only to the registration that wrote them when two race for the first factor', async () => {
    const { account, tokens, user } = await verifiedSignedIn()
    const authenticator = new SoftAuthenticator()
    const [a, b] = await Promise.all([
      registrationOptions(tokens.access_token, account.password),
      registrationOptions(tokens.access_token, account.password),
    ])
    const made = await Promise.all([authenticator.register(a.options), authenticator.register(b.options)])
    const answers = await Promise.all(
      [a, b].map((options, i) =>
        call('/users/me/passkeys', {
          token: tokens.access_token,
          json: { challenge_id: options.challenge_id, credential: made[i]?.response },
        }),
      ),
    )
    const bodies = (await Promise.all(answers.map((answer) => json<{ recovery_codes?: string[] }>(answer, 201)))).filter(
      (body) => body.recovery_codes,
    )
    expect(bodies).toHaveLength(1)
    const stored = await env.DB.prepare('SELECT count(*) AS n FROM recovery_codes WHERE user_id = ?').bind(user.id).first<{ n: number }>()
    expect(stored?.n).toBe(10)
  })

  it('audits an unknown or used challenge, and throttles it on the network budget', async () => {
    const { account, tokens, user } = await verifiedSignedIn()
    const made = await new SoftAuthenticator().register((await registrationOptions(tokens.access_token, account.password)).options)
    await expectProblem(
      await call('/users/me/passkeys', {
        token: tokens.access_token,
        json: { challenge_id: 'no-such-challenge', credential: made.response },
      }),
      400,
      'invalid_challenge',
    )
    const failures = (await auditActions(user.id)).filter((row) => row.action === 'user.passkey_failed')
    expect(failures.map((row) => JSON.parse(row.details ?? '{}'))).toEqual([{ ceremony: 'registration', reason: 'invalid_challenge' }])
  })

  it('holds at most 10 passkeys per account', async () => {
    const { account, tokens } = await verifiedSignedIn()
    const authenticator = new SoftAuthenticator()
    // The first passkey makes the account two-factor: the session re-authenticates with it to go on.
    await json((await register(tokens.access_token, account.password, authenticator)).response, 201)
    const reauth = await reauthenticateWithPasskey(tokens.access_token, authenticator, authenticator.credentials[0] as SoftCredential)
    expect(reauth.status).toBe(200)
    for (let i = 1; i < 10; i++) await json((await register(tokens.access_token, account.password, authenticator)).response, 201)
    await expectProblem(
      await call('/users/me/passkeys/options', { token: tokens.access_token, json: { password: account.password } }),
      409,
      'passkey_limit',
    )
  })
})

describe('passwordless sign-in with a passkey', () => {
  it('signs in at aal2 with amr hwk mfa, from options that name no credential, with no second step even with TOTP', async () => {
    // A TOTP account's session is aal2 from the factor's confirmation: it may add a passkey.
    const { account, user, tokens } = await withTotp()
    const authenticator = new SoftAuthenticator()
    await json((await register(tokens.access_token, account.password, authenticator)).response, 201)
    const { options } = await signInOptions()
    expect(options.allowCredentials).toBeUndefined()
    expect(options).toMatchObject({ rpId: 'localhost', userVerification: 'required' })
    const pair = await json<TokenPair>(await passkeyLogin(authenticator, authenticator.credentials[0] as SoftCredential), 200)
    expect(pair.user.id).toBe(user.id)
    expect(claimsOf(pair.access_token)).toMatchObject({ aal: 'aal2', amr: ['hwk', 'mfa'] })
    const login = (await auditActions(user.id)).filter((row) => row.action === 'user.login').at(-1)
    expect(JSON.parse(login?.details ?? '{}').amr).toBe('hwk mfa')
  })

  it('refuses a forged assertion: wrong origin, RP ID, type, signature, user verification or user handle', async () => {
    const { authenticator, credential, user } = await withPasskey()
    const stranger = await new SoftAuthenticator().register({ challenge: 'x', rp: { id: 'localhost' }, user: { id: 'x' } })
    for (const tamper of [
      { origin: 'https://evil.example' },
      { rpId: 'evil.example' },
      { type: 'webauthn.create' },
      { signWith: stranger.credential },
      { userVerified: false },
      { userHandle: 'c29tZW9uZS1lbHNl' },
      { userHandle: null },
    ] satisfies Tamper[]) {
      await expectProblem(await passkeyLogin(authenticator, credential, tamper, { LOGIN_FREE_FAILURES: '50' }), 401, 'passkey_failed')
    }
    const failures = (await auditActions(user.id)).filter((row) => row.action === 'user.login_failed')
    expect(failures).toHaveLength(7)
    expect(failures.every((row) => JSON.parse(row.details ?? '{}').method === 'passkey')).toBe(true)
    expect((await passkeyLogin(authenticator, credential, {}, { LOGIN_FREE_FAILURES: '50' })).status).toBe(200)
  })

  it('lets a challenge live 5 minutes', async () => {
    const { authenticator, credential } = await withPasskey()
    const { challenge_id, options } = await signInOptions()
    const assertion = await authenticator.assert(options, credential)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 301_000)
    await expectProblem(await call('/users/passkeys/login', { json: { challenge_id, credential: assertion } }), 400, 'invalid_challenge')
  })

  it('refuses a replayed challenge with invalid_challenge, and an unknown credential with passkey_failed', async () => {
    const { authenticator, credential } = await withPasskey()
    const { challenge_id, options } = await signInOptions()
    const assertion = await authenticator.assert(options, credential)
    expect((await call('/users/passkeys/login', { json: { challenge_id, credential: assertion } })).status).toBe(200)
    await expectProblem(await call('/users/passkeys/login', { json: { challenge_id, credential: assertion } }), 400, 'invalid_challenge')
    // The same signed answer under a new challenge: its client data names the old one.
    const fresh = await signInOptions()
    await expectProblem(
      await call('/users/passkeys/login', { json: { challenge_id: fresh.challenge_id, credential: assertion } }),
      401,
      'passkey_failed',
    )
    const unknown = await new SoftAuthenticator().register({ challenge: 'x', rp: { id: 'localhost' }, user: { id: 'x' } })
    await expectProblem(await passkeyLogin(new SoftAuthenticator(), unknown.credential), 401, 'passkey_failed')
  })

  it('accepts a synced passkey whose counter stays 0, and refuses a counter that does not grow as a suspected clone', async () => {
    const synced = await withPasskey()
    for (let i = 0; i < 2; i++) expect((await passkeyLogin(synced.authenticator, synced.credential, { counter: 0 })).status).toBe(200)

    const counted = await withPasskey({ counter: 5 })
    expect((await passkeyLogin(counted.authenticator, counted.credential, { counter: 9 })).status).toBe(200)
    await expectProblem(await passkeyLogin(counted.authenticator, counted.credential, { counter: 9 }), 401, 'passkey_failed')
    await expectProblem(await passkeyLogin(counted.authenticator, counted.credential, { counter: 3 }), 401, 'passkey_failed')
    await expectProblem(await passkeyLogin(counted.authenticator, counted.credential, { counter: 0 }), 401, 'passkey_failed')
    const suspected = (await auditActions(counted.user.id)).filter((row) => row.action === 'passkey.clone_suspected')
    expect(suspected.map((row) => JSON.parse(row.details ?? '{}'))).toEqual([
      { passkey_id: counted.passkeyId, stored_counter: 9, asserted_counter: 9 },
      { passkey_id: counted.passkeyId, stored_counter: 9, asserted_counter: 3 },
      { passkey_id: counted.passkeyId, stored_counter: 9, asserted_counter: 0 },
    ])
    expect((await passkeyLogin(counted.authenticator, counted.credential, { counter: 10 })).status).toBe(200)
  })

  it('answers account_disabled for a disabled account, and only after the assertion verified', async () => {
    const { authenticator, credential, user } = await withPasskey()
    const admin = await asAdmin()
    expect((await adminCall(admin.token, `/users/${user.id}`, { method: 'PATCH', json: { disabled: true } })).status).toBe(200)
    await expectProblem(await passkeyLogin(authenticator, credential, { userVerified: false }), 401, 'passkey_failed')
    await expectProblem(await passkeyLogin(authenticator, credential), 403, 'account_disabled')
  })

  it("shares the account's login backoff: failed assertions make the next password login wait", async () => {
    const { account, authenticator, credential } = await withPasskey()
    const tight = { LOGIN_FREE_FAILURES: '2', RATE_LIMIT_PER_IP_PER_MINUTE: '100000' }
    for (let i = 0; i < 2; i++) {
      const { challenge_id, options } = await signInOptions()
      const assertion = await authenticator.assert(options, credential, { userVerified: false })
      await expectProblem(
        await call('/users/passkeys/login', { json: { challenge_id, credential: assertion }, env: tight }),
        401,
        'passkey_failed',
      )
    }
    const problem = await expectProblem(
      await call('/users/login', { json: { username: account.username, password: account.password }, env: tight }),
      429,
      'rate_limited',
    )
    expect(problem).toBeTruthy()
  })
})

describe('a passkey as the second step after a password', () => {
  it('asks for a second step listing passkey, offers only that account’s credentials, and signs in with amr pwd hwk mfa', async () => {
    const { account, authenticator, credential } = await withPasskey()
    await withPasskey() // another account's passkey exists too
    const step = await mfaToken(account)
    expect(step.methods).toEqual(['recovery_code', 'passkey'])
    const { challenge_id, options } = await secondStepOptions(step.mfa_token)
    expect(options.allowCredentials?.map((allowed) => allowed.id)).toEqual([toId(credential)])
    const assertion = await authenticator.assert(options, credential)
    const pair = await json<TokenPair>(
      await call('/users/login/mfa', { json: { mfa_token: step.mfa_token, challenge_id, passkey: assertion } }),
      200,
    )
    expect(claimsOf(pair.access_token)).toMatchObject({ aal: 'aal2', amr: ['pwd', 'hwk', 'mfa'] })
  })

  it("refuses an assertion by another account's passkey as a wrong code, costing the token an attempt", async () => {
    const victim = await withPasskey()
    const attacker = await withPasskey()
    const step = await mfaToken(victim.account)
    for (let i = 0; i < 5; i++) {
      const { challenge_id, options } = await secondStepOptions(step.mfa_token)
      // Without a user handle (a second step's assertion need not carry one) only ownership refuses it.
      const assertion = await attacker.authenticator.assert(options, attacker.credential, { userHandle: null })
      await expectProblem(
        await call('/users/login/mfa', {
          json: { mfa_token: step.mfa_token, challenge_id, passkey: assertion },
          env: { LOGIN_FREE_FAILURES: '50' },
        }),
        401,
        'invalid_mfa_code',
      )
    }
    // Five wrong answers: the token is spent, even for the right passkey now.
    await expectProblem(await call('/users/login/mfa/passkey-options', { json: { mfa_token: step.mfa_token } }), 401, 'invalid_mfa_token')
    const failures = (await auditActions(victim.user.id)).filter((row) => row.action === 'user.mfa_failed')
    expect(failures.map((row) => JSON.parse(row.details ?? '{}').method)).toEqual(Array(5).fill('passkey'))
  })

  it("takes only a challenge made for this mfa_token: another sign-in's or a passwordless one is invalid_challenge", async () => {
    const { account, authenticator, credential } = await withPasskey()
    const first = await mfaToken(account)
    const second = await mfaToken(account)
    const forFirst = await secondStepOptions(first.mfa_token)
    const passwordless = await signInOptions()
    for (const options of [forFirst, passwordless]) {
      const assertion = await authenticator.assert(options.options, credential)
      await expectProblem(
        await call('/users/login/mfa', { json: { mfa_token: second.mfa_token, challenge_id: options.challenge_id, passkey: assertion } }),
        400,
        'invalid_challenge',
      )
    }
  })

  it('validates the body: exactly one answer, and a challenge_id with a passkey', async () => {
    const { account } = await withPasskey()
    const step = await mfaToken(account)
    const response = await call('/users/login/mfa', { json: { mfa_token: step.mfa_token, code: '123456', recovery_code: 'x' } })
    await expectProblem(response, 400, 'validation_failed')
  })
})

async function reauthenticateWithPasskey(token: string, authenticator: SoftAuthenticator, credential: SoftCredential, tamper: Tamper = {}) {
  const { challenge_id, options } = await json<RequestOptions>(
    await call('/users/me/reauthenticate/passkey-options', { method: 'POST', token }),
    200,
  )
  const assertion = await authenticator.assert(options, credential, tamper)
  return call('/users/me/reauthenticate', { token, json: { challenge_id, passkey: assertion } })
}

describe('re-authentication with a passkey', () => {
  it('makes the session aal2 with amr hwk mfa, from options listing the caller’s passkeys', async () => {
    const { account, tokens, authenticator, credential } = await withPasskey()
    const body = await json<{ aal: string; amr: string[]; access_token: string }>(
      await reauthenticateWithPasskey(tokens.access_token, authenticator, credential),
      200,
    )
    expect(body).toMatchObject({ aal: 'aal2', amr: ['hwk', 'mfa'] })
    expect(claimsOf(body.access_token)).toMatchObject({ aal: 'aal2' })
    // Now a sensitive action at aal2 goes through.
    expect((await call('/users/me/passkeys/options', { token: tokens.access_token, json: { password: account.password } })).status).toBe(
      200,
    )
  })

  it('refuses a bad assertion with passkey_failed, and a challenge made for another session with invalid_challenge', async () => {
    const { account, tokens, authenticator, credential, user } = await withPasskey()
    await expectProblem(
      await reauthenticateWithPasskey(tokens.access_token, authenticator, credential, { userVerified: false }),
      401,
      'passkey_failed',
    )
    const failed = (await auditActions(user.id)).filter((row) => row.action === 'user.reauth_failed')
    expect(JSON.parse(failed[0]?.details ?? '{}')).toMatchObject({ method: 'passkey' })
    const step = await mfaToken(account)
    const options = await secondStepOptions(step.mfa_token)
    const otherPair = await json<TokenPair>(
      await call('/users/login/mfa', {
        json: {
          mfa_token: step.mfa_token,
          challenge_id: options.challenge_id,
          passkey: await authenticator.assert(options.options, credential),
        },
      }),
      200,
    )
    const theirs = await json<RequestOptions>(
      await call('/users/me/reauthenticate/passkey-options', { method: 'POST', token: otherPair.access_token }),
      200,
    )
    const assertion = await authenticator.assert(theirs.options, credential)
    await expectProblem(
      await call('/users/me/reauthenticate', {
        token: tokens.access_token,
        json: { challenge_id: theirs.challenge_id, passkey: assertion },
      }),
      400,
      'invalid_challenge',
    )
  })

  it('refuses a password and a passkey together, and a passkey without its challenge_id', async () => {
    const { tokens, account } = await withPasskey()
    for (const json of [{ password: account.password, passkey: {} }, { passkey: {} }]) {
      await expectProblem(await call('/users/me/reauthenticate', { token: tokens.access_token, json }), 400, 'validation_failed')
    }
  })
})

describe('passkey management', () => {
  it('renames a passkey, and treats another account’s passkey as not found', async () => {
    const mine = await withPasskey()
    const theirs = await withPasskey()
    const renamed = await json<{ passkey: { name: string } }>(
      await call(`/users/me/passkeys/${mine.passkeyId}`, { method: 'PATCH', token: mine.tokens.access_token, json: { name: ' Phone ' } }),
      200,
    )
    expect(renamed.passkey.name).toBe('Phone')
    await expectProblem(
      await call(`/users/me/passkeys/${theirs.passkeyId}`, {
        method: 'PATCH',
        token: mine.tokens.access_token,
        json: { name: 'Mine now' },
      }),
      404,
      'not_found',
    )
    await reauthenticateWithPasskey(mine.tokens.access_token, mine.authenticator, mine.credential)
    await expectProblem(
      await call(`/users/me/passkeys/${theirs.passkeyId}`, { method: 'DELETE', token: mine.tokens.access_token }),
      404,
      'not_found',
    )
  })

  it('removes a passkey at aal2: the recovery codes go with the last second factor and passkey sessions drop to aal1', async () => {
    const { tokens, authenticator, credential, passkeyId, user } = await withPasskey()
    // The registering session is aal1 (adding a passkey raises none): it must prove again at aal2.
    await expectProblem(
      await call(`/users/me/passkeys/${passkeyId}`, { method: 'DELETE', token: tokens.access_token }),
      403,
      'reauthentication_required',
    )
    const passwordless = await json<TokenPair>(await passkeyLogin(authenticator, credential), 200)
    expect((await call(`/users/me/passkeys/${passkeyId}`, { method: 'DELETE', token: passwordless.access_token })).status).toBe(204)
    const status = await json<{ passkeys: number; recovery_codes_left: number }>(
      await call('/users/me/mfa', { token: tokens.access_token }),
      200,
    )
    expect(status).toMatchObject({ passkeys: 0, recovery_codes_left: 0 })
    const session = await env.DB.prepare('SELECT aal, amr FROM sessions WHERE id = ?')
      .bind(claimsOf(passwordless.access_token).sid)
      .first<{ aal: string; amr: string }>()
    expect(session).toEqual({ aal: 'aal1', amr: '["hwk"]' })
    expect((await auditActions(user.id)).map((row) => row.action)).toContain('user.passkey_removed')
    await expectProblem(await passkeyLogin(authenticator, credential), 401, 'passkey_failed')
  })

  it('refuses to remove the last way to sign in with last_sign_in_method', async () => {
    const { tokens, authenticator, credential, passkeyId, user } = await withPasskey()
    await env.DB.prepare('UPDATE users SET password_hash = NULL WHERE id = ?').bind(user.id).run()
    const pair = await json<TokenPair>(await passkeyLogin(authenticator, credential), 200)
    await expectProblem(
      await call(`/users/me/passkeys/${passkeyId}`, { method: 'DELETE', token: pair.access_token }),
      409,
      'last_sign_in_method',
    )
    const { passkeys } = await json<{ passkeys: unknown[] }>(await call('/users/me/passkeys', { token: tokens.access_token }), 200)
    expect(passkeys).toHaveLength(1)
  })
})

describe('passkey configuration', () => {
  it('refuses workers.dev itself as the RP ID, and origins that are not on the RP ID', async () => {
    for (const bindings of [
      { WEBAUTHN_RP_ID: 'workers.dev' },
      { WEBAUTHN_RP_ID: 'https://example.com' },
      { WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://example.org' },
      { WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'http://app.example.com' },
    ]) {
      const problem = await expectProblem(await call('/health', { env: bindings }), 503, 'unavailable')
      expect(problem.detail).toMatch(/WEBAUTHN_RP_ID|WEBAUTHN_ORIGINS/)
    }
    const fine = await call('/health', {
      env: { WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://app.example.com,https://example.com' },
    })
    expect(fine.status).toBe(200)
  })

  it('checks assertions against the configured origins only, whatever the request says', async () => {
    const { authenticator, credential } = await withPasskey()
    const { challenge_id, options } = await signInOptions()
    const assertion = await authenticator.assert(options, credential, { origin: 'https://elsewhere.example' })
    const response = await call('/users/passkeys/login', {
      json: { challenge_id, credential: assertion },
      headers: { Origin: 'https://elsewhere.example', Host: 'elsewhere.example' },
    })
    await expectProblem(response, 401, 'passkey_failed')
  })
})

function toId(credential: SoftCredential) {
  return btoa(String.fromCharCode(...credential.id))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
}

/*
 * The counter's compare-and-set runs in the batch that opens (or re-authenticates) the session:
 * two assertions read against the same stored counter, each advancing it, must not both count.
 * A cloned authenticator is what sends them; each test fails when the set is not conditional.
 */
describe('a passkey counter raced by two assertions at once', () => {
  it('opens one session of two passwordless sign-ins, refusing the other as passkey_failed, audited', async () => {
    const { authenticator, credential, user } = await withPasskey({ counter: 5 })
    const [first, second] = await Promise.all([signInOptions(), signInOptions()])
    const assertions = [
      await authenticator.assert(first.options, credential, { counter: 10 }),
      await authenticator.assert(second.options, credential, { counter: 11 }),
    ]
    const answers = await Promise.all(
      [first, second].map(({ challenge_id }, i) => call('/users/passkeys/login', { json: { challenge_id, credential: assertions[i] } })),
    )
    const statuses = answers.map((answer) => answer.status).sort()
    expect(statuses).toEqual([200, 401])
    await expectProblem(answers.find((answer) => answer.status === 401) as Response, 401, 'passkey_failed')
    const actions = (await auditActions(user.id)).map((row) => row.action)
    expect(actions.filter((action) => action === 'user.login')).toHaveLength(2) // the sign-in at sign-up, and the winner
    expect(actions.filter((action) => action === 'user.login_failed')).toHaveLength(1)
  })

  it('opens one session of two second steps answered by one passkey, the other a wrong code, audited', async () => {
    const { account, authenticator, credential, user } = await withPasskey({ counter: 5 })
    const steps = await Promise.all([mfaToken(account), mfaToken(account)])
    const options = await Promise.all(steps.map((step) => secondStepOptions(step.mfa_token)))
    const assertions = [
      await authenticator.assert(options[0]!.options, credential, { counter: 10 }),
      await authenticator.assert(options[1]!.options, credential, { counter: 11 }),
    ]
    const answers = await Promise.all(
      steps.map((step, i) =>
        call('/users/login/mfa', { json: { mfa_token: step.mfa_token, challenge_id: options[i]!.challenge_id, passkey: assertions[i] } }),
      ),
    )
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401])
    await expectProblem(answers.find((answer) => answer.status === 401) as Response, 401, 'invalid_mfa_code')
    const failures = (await auditActions(user.id)).filter((row) => row.action === 'user.mfa_failed')
    expect(failures.map((row) => JSON.parse(row.details ?? '{}').method)).toEqual(['passkey'])
  })

  it('re-authenticates once of two assertions at once, the other passkey_failed and audited', async () => {
    const { tokens, authenticator, credential, user } = await withPasskey({ counter: 5 })
    const token = tokens.access_token
    const options = await Promise.all(
      [0, 1].map(async () => json<RequestOptions>(await call('/users/me/reauthenticate/passkey-options', { method: 'POST', token }), 200)),
    )
    const assertions = [
      await authenticator.assert(options[0]!.options, credential, { counter: 10 }),
      await authenticator.assert(options[1]!.options, credential, { counter: 11 }),
    ]
    const answers = await Promise.all(
      options.map(({ challenge_id }, i) => call('/users/me/reauthenticate', { token, json: { challenge_id, passkey: assertions[i] } })),
    )
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401])
    await expectProblem(answers.find((answer) => answer.status === 401) as Response, 401, 'passkey_failed')
    const failed = (await auditActions(user.id)).filter((row) => row.action === 'user.reauth_failed')
    expect(failed.map((row) => JSON.parse(row.details ?? '{}'))).toEqual([{ purpose: 'reauthentication', method: 'passkey' }])
  })
})
