import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { call, expectProblem, failingFields, login, me, newAccount, type PublicUser, refresh, signedIn, signup } from './helpers'

function patchMe(token: string, json: unknown) {
  return call('/users/me', { method: 'PATCH', token, json })
}

function changePassword(token: string, json: unknown) {
  return call('/users/me/password', { token, json })
}

function deleteMe(token: string, json: unknown) {
  return call('/users/me', { method: 'DELETE', token, json })
}

async function userOf(response: Response): Promise<PublicUser> {
  expect(response.status, await response.clone().text()).toBe(200)
  return ((await response.json()) as { user: PublicUser }).user
}

describe('GET /users/me', () => {
  it('returns the signed-in user', async () => {
    const { tokens, user } = await signedIn()
    expect(await userOf(await me(tokens.access_token))).toEqual({ ...user, pending_email: null })
  })

  it('reflects a role change on the next request, with the same token', async () => {
    const { tokens, user } = await signedIn()
    await env.DB.prepare("UPDATE users SET role = 'admin' WHERE id = ?").bind(user.id).run()
    expect((await userOf(await me(tokens.access_token))).role).toBe('admin')
  })

  it('stops working once the account is disabled', async () => {
    const { tokens, user } = await signedIn()
    await env.DB.prepare('UPDATE users SET disabled = 1 WHERE id = ?').bind(user.id).run()
    await expectProblem(await me(tokens.access_token), 401, 'unauthorized')
  })
})

describe('PATCH /users/me', () => {
  it('changes the username, keeping its case', async () => {
    const { tokens } = await signedIn()
    const user = await userOf(await patchMe(tokens.access_token, { username: 'Renamed_User' }))
    expect(user.username).toBe('Renamed_User')
    expect((await userOf(await me(tokens.access_token))).username).toBe('Renamed_User')
  })

  it('lets a user change only the case of their own username', async () => {
    const { tokens, account } = await signedIn()
    expect((await userOf(await patchMe(tokens.access_token, { username: account.username.toUpperCase() }))).username).toBe(
      account.username.toUpperCase(),
    )
  })

  it('keeps the address and its verification while a new one, normalised, waits for its link', async () => {
    const { tokens, user } = await signedIn()
    await env.DB.prepare('UPDATE users SET email_verified = 1 WHERE id = ?').bind(user.id).run()
    const updated = await userOf(await patchMe(tokens.access_token, { email: '  New.Address@Example.ORG ' }))
    expect(updated).toMatchObject({ email: user.email, email_verified: true, pending_email: 'new.address@example.org' })
  })

  it('keeps a verified email verified when the same address is sent again', async () => {
    const { tokens, user } = await signedIn()
    await env.DB.prepare('UPDATE users SET email_verified = 1 WHERE id = ?').bind(user.id).run()
    const updated = await userOf(await patchMe(tokens.access_token, { email: user.email.toUpperCase() }))
    expect(updated.email_verified).toBe(true)
  })

  it('never lets the role be written', async () => {
    const { tokens } = await signedIn()
    const updated = await userOf(await patchMe(tokens.access_token, { role: 'admin', username: 'would_be_admin' }))
    expect(updated.role).toBe('user')
    expect((await userOf(await me(tokens.access_token))).role).toBe('user')
  })

  it('refuses a username or email another account holds, case-insensitively', async () => {
    const other = await signup()
    const { tokens } = await signedIn()
    await expectProblem(await patchMe(tokens.access_token, { username: other.account.username.toUpperCase() }), 409, 'username_taken')
    await expectProblem(await patchMe(tokens.access_token, { email: other.account.email.toUpperCase() }), 409, 'email_taken')
  })

  it('validates like signup', async () => {
    const { tokens } = await signedIn()
    expect(await failingFields(await patchMe(tokens.access_token, { username: '_bad', email: 'no' }))).toEqual(['email', 'username'])
  })

  it('frees the old username for others', async () => {
    const { tokens, account } = await signedIn()
    await userOf(await patchMe(tokens.access_token, { username: `${account.username}x` }))
    await signup({ username: account.username })
  })
})

describe('POST /users/me/password', () => {
  it('changes the password, ends every other session and keeps this one', async () => {
    const { account, tokens } = await signedIn()
    const other = await login(account)
    const newPassword = 'a-brand-new-passphrase-42'
    const response = await changePassword(tokens.access_token, { current_password: account.password, new_password: newPassword })
    expect(response.status).toBe(204)

    expect((await me(tokens.access_token)).status).toBe(200)
    expect((await refresh(tokens.refresh_token)).status).toBe(200)
    await expectProblem(await me(other.access_token), 401, 'unauthorized')
    await expectProblem(await refresh(other.refresh_token), 401, 'invalid_refresh_token')

    await expectProblem(await call('/users/login', { json: account }), 401, 'invalid_credentials')
    await login({ username: account.username, password: newPassword })
  })

  it('answers a wrong current password with 403 invalid_password and changes nothing', async () => {
    const { account, tokens } = await signedIn()
    const response = await changePassword(tokens.access_token, {
      current_password: 'not-my-password-at-all',
      new_password: 'another-fine-passphrase',
    })
    await expectProblem(response, 403, 'invalid_password')
    await login(account)
  })

  it('applies the password policy to the new password, against this account’s name', async () => {
    const { account, tokens } = await signedIn()
    const weak = await changePassword(tokens.access_token, { current_password: account.password, new_password: 'short' })
    expect(await failingFields(weak)).toEqual(['new_password'])
    const named = await changePassword(tokens.access_token, {
      current_password: account.password,
      new_password: `my-name-is-${account.username}`,
    })
    const problem = await expectProblem(named, 400, 'validation_failed')
    expect(problem.errors).toEqual([{ path: 'new_password', message: 'must not contain the username' }])
  })

  it('refuses a new password equal to the current one', async () => {
    const { account, tokens } = await signedIn()
    const response = await changePassword(tokens.access_token, { current_password: account.password, new_password: account.password })
    expect(await failingFields(response)).toEqual(['new_password'])
  })

  it('requires both fields', async () => {
    const { tokens } = await signedIn()
    expect(await failingFields(await changePassword(tokens.access_token, {}))).toEqual(['current_password', 'new_password'])
  })
})

describe('DELETE /users/me', () => {
  it('deletes the user and every session, and frees the username and email', async () => {
    const { account, tokens } = await signedIn()
    const other = await login(account)
    const response = await deleteMe(tokens.access_token, { password: account.password })
    expect(response.status).toBe(204)
    await expectProblem(await me(tokens.access_token), 401, 'unauthorized')
    await expectProblem(await refresh(other.refresh_token), 401, 'invalid_refresh_token')
    await expectProblem(await call('/users/login', { json: account }), 401, 'invalid_credentials')
    const again = await call('/users/signup', { json: newAccount({ username: account.username, email: account.email }) })
    expect(again.status).toBe(201)
  })

  it('answers a wrong password with 403 invalid_password and keeps the account', async () => {
    const { account, tokens } = await signedIn()
    await expectProblem(await deleteMe(tokens.access_token, { password: 'definitely-not-it' }), 403, 'invalid_password')
    expect((await me(tokens.access_token)).status).toBe(200)
    await login(account)
  })

  it('requires the password', async () => {
    const { tokens } = await signedIn()
    expect(await failingFields(await deleteMe(tokens.access_token, {}))).toEqual(['password'])
  })
})
