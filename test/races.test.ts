import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { databaseFor } from '../src/db/client'
import { startSession } from '../src/db/sessions'
import { findUserByLogin, passwordSignIn } from '../src/db/users'
import { call, expectProblem, login, signup, storedUser } from './helpers'

describe('writes that depend on a password', () => {
  // A login reads the account, spends ~10 ms on PBKDF2, then writes. Timing cannot pin a change
  // into that gap from outside, so the test plays the login's two halves itself, with the route's
  // own write unit, and lands a real password change (through HTTP) between them.
  it('lets a password change win over a login that read the account before it: no session, no re-hash over the new password', async () => {
    const { account } = await signup()
    const owner = await login(account)
    const db = databaseFor(env.DB)
    const readByLogin = await findUserByLogin(db, { kind: 'username', value: account.username.toLowerCase() })
    if (!readByLogin) throw new Error('signed up above')

    const newPassword = 'changed-while-a-login-hashed'
    const change = await call('/users/me/password', {
      token: owner.access_token,
      json: { current_password: account.password, new_password: newPassword },
    })
    expect(change.status).toBe(204)
    const afterChange = (await storedUser(account.username))?.password_hash

    const sessionId = crypto.randomUUID()
    const started = await startSession(db, {
      id: sessionId,
      userId: readByLogin.id,
      refreshTokenHash: `race-${sessionId}`,
      holder: 'api',
      userAgent: 'race',
      expiresAt: new Date(Date.now() + 60_000),
      assurance: { authTime: new Date(), amr: ['pwd'], aal: 'aal1' },
      proof: passwordSignIn(db, {
        userId: readByLogin.id,
        checkedHash: readByLogin.passwordHash!,
        newHash: '$pbkdf2-sha256$v=1$i=100000$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
        now: new Date(),
        login: true,
      }),
      client: { ip: null, userAgent: 'race' },
      now: new Date(),
    })
    expect(started).toBe(false)
    expect(await env.DB.prepare('SELECT id FROM sessions WHERE id = ?').bind(sessionId).first()).toBeNull()
    expect((await storedUser(account.username))?.password_hash).toBe(afterChange)
    expect(
      await env.DB.prepare("SELECT count(*) AS n FROM audit_events WHERE action = 'user.login' AND details LIKE ?")
        .bind(`%${sessionId}%`)
        .first('n'),
    ).toBe(0)

    expect((await login({ username: account.username, password: newPassword })).user.username).toBe(account.username)
    await expectProblem(
      await call('/users/login', { json: { username: account.username, password: account.password } }),
      401,
      'invalid_credentials',
    )
  })
})
