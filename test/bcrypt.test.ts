import { env } from 'cloudflare:workers'
import bcrypt from 'bcryptjs'
import { describe, expect, it } from 'vitest'
import { call, expectProblem, login, me, signup, storedUser } from './helpers'

/** An account as the Flask app left it: its password hashed with bcrypt, written straight into the row. */
async function accountWithBcrypt(hash: (password: string) => string) {
  const { account } = await signup()
  const flaskPassword = 'ab' // the Flask app took any non-empty password
  await env.DB.prepare('UPDATE users SET password_hash = ? WHERE username_normalized = ?')
    .bind(hash(flaskPassword), account.username.toLowerCase())
    .run()
  return { username: account.username, password: flaskPassword }
}

describe('logins with a bcrypt hash (accounts from the Flask app)', () => {
  it('logs in with the original password and re-hashes it to PBKDF2 in the same write', async () => {
    const account = await accountWithBcrypt((password) => bcrypt.hashSync(password, 4))
    const tokens = await login(account)
    expect((await me(tokens.access_token)).status).toBe(200)
    const stored = (await storedUser(account.username))?.password_hash as string
    expect(stored).toMatch(/^\$pbkdf2-sha256\$/)
    // The next login is a PBKDF2 login, with the same password.
    expect((await call('/users/login', { json: account })).status).toBe(200)
    expect((await storedUser(account.username))?.password_hash).toBe(stored)
  })

  it('accepts the $2a$, $2b$ and $2y$ variants', async () => {
    for (const prefix of ['$2a$', '$2b$', '$2y$']) {
      const account = await accountWithBcrypt((password) => bcrypt.hashSync(password, 4).replace(/^\$2[ab]\$/, prefix))
      expect((await call('/users/login', { json: account })).status, prefix).toBe(200)
    }
  })

  it('refuses a hash above BCRYPT_MAX_COST as unusable, right password or not, at the cost of a wrong one', async () => {
    // Cost 13 for "correct horse battery staple 13": at the edge each check would cost about a second of CPU.
    const costly = '$2b$13$5gRPcMG0sEueQNlAH1ItG.wlJ5yOt8rYjST49vjdZZIbM1vOT9tUy'
    const account = await accountWithBcrypt(() => costly)
    const right = { username: account.username, password: 'correct horse battery staple 13' }
    await expectProblem(await call('/users/login', { json: right }), 401, 'invalid_credentials')
    expect((await storedUser(account.username))?.password_hash).toBe(costly)
    // An operator who raises the limit lets it through (and it is re-hashed).
    expect((await call('/users/login', { json: right, env: { BCRYPT_MAX_COST: '13' } })).status).toBe(200)
  })

  it('answers a wrong password with the plain 401 and keeps the bcrypt hash', async () => {
    const account = await accountWithBcrypt((password) => bcrypt.hashSync(password, 4))
    const before = (await storedUser(account.username))?.password_hash
    await expectProblem(await call('/users/login', { json: { ...account, password: 'not-it' } }), 401, 'invalid_credentials')
    expect((await storedUser(account.username))?.password_hash).toBe(before)
  })

  it('treats a cost outside 4–15 or another variant as an unusable record', async () => {
    for (const hash of [
      (password: string) => bcrypt.hashSync(password, 4).replace('$04$', '$03$'),
      (password: string) => bcrypt.hashSync(password, 4).replace('$04$', '$16$'),
      (password: string) => bcrypt.hashSync(password, 4).replace(/^\$2[ab]\$/, '$2x$'),
      () => '$2b$04$short',
    ]) {
      const account = await accountWithBcrypt(hash)
      await expectProblem(await call('/users/login', { json: account }), 401, 'invalid_credentials')
    }
  })
})
