import { describe, expect, it } from 'vitest'
import { call, expectProblem, failingFields, newAccount, type PublicUser, signup, storedUser } from './helpers'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

async function passwordRejection(password: string, overrides: Record<string, string> = {}, env?: Record<string, unknown>) {
  const response = await call('/users/signup', { json: { ...newAccount(overrides), password }, env })
  const problem = await expectProblem(response, 400, 'validation_failed')
  return problem.errors?.find((error) => error.path === 'password')?.message
}

describe('signup', () => {
  it('creates a user with the default role and answers 201 with the user object', async () => {
    const account = newAccount()
    const response = await call('/users/signup', { json: account })
    expect(response.status).toBe(201)
    const { user } = (await response.json()) as { user: PublicUser }
    expect(Object.keys(user).sort()).toEqual(['created_at', 'email', 'email_verified', 'id', 'role', 'username'])
    expect(user).toMatchObject({ username: account.username, email: account.email, role: 'user', email_verified: false })
    expect(user.id).toMatch(UUID_V7)
    expect(new Date(user.created_at).toISOString()).toBe(user.created_at)
  })

  it('stores the username as given and the email trimmed and lower-cased', async () => {
    const { user } = await signup({ username: 'Grace_Hopper.1', email: '  Grace.Hopper@Example.COM ' })
    expect(user.username).toBe('Grace_Hopper.1')
    expect(user.email).toBe('grace.hopper@example.com')
  })

  it('ignores a role sent at signup', async () => {
    const response = await call('/users/signup', { json: { ...newAccount(), role: 'admin', disabled: false, email_verified: true } })
    expect(response.status).toBe(201)
    const { user } = (await response.json()) as { user: PublicUser }
    expect(user.role).toBe('user')
    expect(user.email_verified).toBe(false)
  })

  it('never returns or stores the password, only a PBKDF2 hash', async () => {
    const account = newAccount()
    const response = await call('/users/signup', { json: account })
    expect(await response.text()).not.toContain(account.password)
    const row = await storedUser(account.username)
    expect(row?.password_hash).toMatch(/^\$pbkdf2-sha256\$v=1\$i=100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/)
    expect(JSON.stringify(row)).not.toContain(account.password)
  })

  it('salts every hash, so one password never hashes the same twice', async () => {
    const password = 'the-same-password-for-both'
    const first = await signup({ password })
    const second = await signup({ password })
    const [a, b] = [await storedUser(first.account.username), await storedUser(second.account.username)]
    expect(a?.password_hash).not.toBe(b?.password_hash)
  })

  describe('username rules', () => {
    it.each([
      ['too short', 'ab'],
      ['too long', 'a'.repeat(33)],
      ['starting with an underscore', '_alice'],
      ['starting with a dot', '.alice'],
      ['with a space', 'ali ce'],
      ['with an @', 'ali@ce'],
      ['with a non-ASCII letter', 'alicé'],
      ['empty', ''],
    ])('rejects a username %s', async (_, username) => {
      // A fixed password: a random one could contain the username ('ab' in its hex) and fail too.
      const account = newAccount({ username, password: 'violet-harbour-lantern-quietly' })
      expect(await failingFields(await call('/users/signup', { json: account }))).toEqual(['username'])
    })

    it.each([['abc'], ['a'.repeat(32)], ['7of9'], ['J.R.R-Tolkien_2']])('accepts the username %s', async (username) => {
      await signup({ username })
    })

    it('treats usernames case-insensitively for uniqueness', async () => {
      const { account } = await signup({ username: 'MixedCaseName' })
      const response = await call('/users/signup', { json: newAccount({ username: account.username.toLowerCase() }) })
      await expectProblem(response, 409, 'username_taken')
    })
  })

  describe('email rules', () => {
    it.each([['no-at-sign'], ['two@@example.com'], ['spaces in@example.com'], [`${'a'.repeat(245)}@example.com`]])(
      'rejects the email %s',
      async (email) => {
        expect(await failingFields(await call('/users/signup', { json: newAccount({ email }) }))).toEqual(['email'])
      },
    )

    it('refuses an email already in use, whatever its case', async () => {
      const { account } = await signup()
      const response = await call('/users/signup', { json: newAccount({ email: account.email.toUpperCase() }) })
      await expectProblem(response, 409, 'email_taken')
    })
  })

  describe('password rules', () => {
    it('requires PASSWORD_MIN_LENGTH characters, 15 by default', async () => {
      expect(await passwordRejection('fourteen-chars')).toBe('must be at least 15 characters long')
      await signup({ password: 'fifteen--chars!' })
    })

    it('follows a configured PASSWORD_MIN_LENGTH', async () => {
      expect(await passwordRejection('twenty-minus-one-ch', {}, { PASSWORD_MIN_LENGTH: '20' })).toBe('must be at least 20 characters long')
      const response = await call('/users/signup', { json: newAccount({ password: 'short-but-ok' }), env: { PASSWORD_MIN_LENGTH: '12' } })
      expect(response.status).toBe(201)
    })

    it('counts Unicode code points, not UTF-16 units', async () => {
      // 14 emoji are 28 UTF-16 units but 14 code points: too short.
      expect(await passwordRejection('🔑🌊🎲🦉🍋🚲🎻🌵🧭🪁🐙🥐🛶🔭')).toBe('must be at least 15 characters long')
      // 15 emoji pass.
      await signup({ password: '🔑🌊🎲🦉🍋🚲🎻🌵🧭🪁🐙🥐🛶🔭🪴' })
    })

    it('normalises to NFC before counting, so combining marks do not pad the length', async () => {
      // "é" written as e + U+0301 is two code points, one after NFC: 27 before, 14 after.
      const decomposed = `${'\u0065\u0301'.repeat(13)}x`
      expect([...decomposed]).toHaveLength(27)
      expect(await passwordRejection(decomposed)).toBe('must be at least 15 characters long')
    })

    it('allows at most 256 code points', async () => {
      expect(await passwordRejection('correct-horse-'.repeat(19))).toBe('must be at most 256 characters long')
      await signup({ password: `${'correct-horse-'.repeat(18)}abcd` })
    })

    it('rejects one repeated character', async () => {
      expect(await passwordRejection('x'.repeat(20))).toBe('must not be one character repeated')
    })

    it('rejects a commonly used password from the shipped list, in any case', async () => {
      for (const common of ['1qaz2wsx3edc4rfv', 'PasswordPassword', 'QWERTYuiop12345']) {
        expect(await passwordRejection(common)).toMatch(/commonly used/)
      }
    })

    it('rejects a password containing the username, in any case', async () => {
      expect(await passwordRejection('my-name-is-SNOWFLAKE77!', { username: 'snowflake77' })).toBe('must not contain the username')
    })

    it("rejects a password containing the email's local part", async () => {
      expect(await passwordRejection('hello-marguerite-2024', { email: 'marguerite@example.com' })).toBe(
        'must not contain the email address',
      )
    })
  })

  it('lists every failing field at once, the password policy included', async () => {
    const response = await call('/users/signup', { json: { username: 'x', email: 'nope', password: 'short-password' } })
    expect(await failingFields(response)).toEqual(['email', 'password', 'username'])
  })

  it('says which fields are missing or of the wrong type', async () => {
    const response = await call('/users/signup', { json: { username: 42, password: ['a'] } })
    const problem = await expectProblem(response, 400, 'validation_failed')
    expect(problem.errors).toEqual(
      expect.arrayContaining([
        { path: 'username', message: 'must be a string' },
        { path: 'email', message: 'is required' },
        { path: 'password', message: 'must be a string' },
      ]),
    )
  })

  it('answers a body that is not an object with validation_failed', async () => {
    for (const body of [[], 'text', 7, null]) {
      await expectProblem(await call('/users/signup', { json: body }), 400, 'validation_failed')
    }
  })

  it('answers malformed JSON with 400 invalid_json', async () => {
    for (const rawBody of ['{"username": ', '{username: "x"}', '', '\u0000']) {
      const response = await call('/users/signup', { rawBody, headers: { 'Content-Type': 'application/json' } })
      await expectProblem(response, 400, 'invalid_json')
    }
  })

  it('answers a body that is not JSON with 415 unsupported_media_type', async () => {
    const form = await call('/users/signup', {
      rawBody: 'username=alice&password=x',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    })
    await expectProblem(form, 415, 'unsupported_media_type')
    const untyped = await call('/users/signup', { rawBody: JSON.stringify(newAccount()), headers: {} })
    await expectProblem(untyped, 415, 'unsupported_media_type')
  })

  it('accepts JSON with a charset parameter', async () => {
    const response = await call('/users/signup', { json: newAccount(), headers: { 'Content-Type': 'application/json; charset=utf-8' } })
    expect(response.status).toBe(201)
  })

  it('answers a body over 16 KiB with 413 payload_too_large, with or without Content-Length', async () => {
    const big = JSON.stringify({ ...newAccount(), padding: 'x'.repeat(16 * 1024) })
    await expectProblem(
      await call('/users/signup', { rawBody: big, headers: { 'Content-Type': 'application/json' } }),
      413,
      'payload_too_large',
    )
    const chunked = new Blob([big]).stream()
    const response = await call('/users/signup', { rawBody: chunked, headers: { 'Content-Type': 'application/json' } })
    await expectProblem(response, 413, 'payload_too_large')
  })

  it('accepts a body of exactly 16 KiB', async () => {
    const account = JSON.stringify(newAccount())
    const padded = `${account.slice(0, -1)},"padding":"${'x'.repeat(16 * 1024 - account.length - 13)}"}`
    expect(new TextEncoder().encode(padded).length).toBe(16 * 1024)
    const response = await call('/users/signup', { rawBody: padded, headers: { 'Content-Type': 'application/json' } })
    expect(response.status).toBe(201)
  })

  it('lets exactly one of 20 simultaneous signups for one name succeed; the rest get 409', async () => {
    const username = `racer_${crypto.randomUUID().slice(0, 8)}`
    const responses = await Promise.all(Array.from({ length: 20 }, () => call('/users/signup', { json: newAccount({ username }) })))
    const statuses = responses.map((response) => response.status).sort()
    expect(statuses.filter((status) => status === 201)).toHaveLength(1)
    expect(statuses.filter((status) => status === 409)).toHaveLength(19)
    for (const response of responses.filter((r) => r.status === 409)) await expectProblem(response, 409, 'username_taken')
  })

  it('lets exactly one of simultaneous signups for one email succeed', async () => {
    const email = `racer.${crypto.randomUUID().slice(0, 8)}@example.com`
    const responses = await Promise.all(Array.from({ length: 10 }, () => call('/users/signup', { json: newAccount({ email }) })))
    const statuses = responses.map((response) => response.status)
    expect(statuses.filter((status) => status === 201)).toHaveLength(1)
    for (const response of responses.filter((r) => r.status === 409)) await expectProblem(response, 409, 'email_taken')
  })

  it('never leaks SQL or bound values in a conflict', async () => {
    const { account } = await signup()
    const response = await call('/users/signup', { json: newAccount({ username: account.username }) })
    const text = await response.text()
    expect(text).not.toMatch(/UNIQUE|constraint|SQL|users\./i)
    expect(text).not.toContain(account.username)
  })
})
