import { describe, expect, it } from 'vitest'
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
  newAccount,
  signedIn,
  signup,
} from './helpers'

const NEW_PASSWORD = 'quiet-meadow-lighthouse-42'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const patchMe = (token: string, json: object, env?: Record<string, unknown>) => call('/users/me', { method: 'PATCH', token, json, env })
const reauthenticate = (token: string, json: object, env?: Record<string, unknown>) =>
  call('/users/me/reauthenticate', { token, json, env })
const verify = (token: string, env?: Record<string, unknown>) => call('/users/email/verify', { json: { token }, env })
const revert = (token: string, env?: Record<string, unknown>) => call('/users/email/revert', { json: { token }, env })

/**
 * A signed-in account whose mail goes through a rig, so the test reads every link it is sent. Its
 * address is proved (the signup mail's link): only a proved address gets a revert link.
 */
async function withMail(env: Record<string, unknown> = {}) {
  const rig = mailRig()
  const account = newAccount()
  await call('/users/signup', { json: account, env: rig.env })
  await deliver(rig.jobs.splice(0), rig)
  expect((await verify(linkIn(rig.sent.splice(0).at(-1)).token)).status).toBe(200)
  const tokens = await login(account)
  return { rig, account, tokens, env: { ...rig.env, ...env } }
}

/** Delivers what was queued and returns the last mail sent to `to`. */
async function mailTo(rig: ReturnType<typeof mailRig>, to: string) {
  await deliver(rig.jobs.splice(0), rig)
  return rig.sent.filter((mail) => mail.to === to).at(-1)
}

describe('sensitive actions need a recent proof', () => {
  it('refuses an address change on a session proved longer ago than REAUTH_MAX_AGE_SECONDS, and saying which proof will do', async () => {
    const { tokens } = await signedIn()
    await sleep(1100)
    const env = { REAUTH_MAX_AGE_SECONDS: '1' }
    const refused = await expectProblem(
      await patchMe(tokens.access_token, { email: newAccount().email }, env),
      403,
      'reauthentication_required',
    )
    expect(refused).toMatchObject({ required_aal: 'aal1', methods: ['password'], max_age: 1 })
    // Refused before anything changed.
    expect((await (await me(tokens.access_token)).json()) as object).toMatchObject({ user: { pending_email: null } })
  })

  it('counts a re-authentication on the session, so the access token already held works again', async () => {
    const { account, tokens } = await signedIn()
    await sleep(1100)
    const env = { REAUTH_MAX_AGE_SECONDS: '1' }
    const proved = await reauthenticate(tokens.access_token, { password: account.password }, env)
    expect(proved.status).toBe(200)
    const body = (await proved.json()) as Record<string, unknown>
    expect(body).toMatchObject({ token_type: 'Bearer', aal: 'aal1', amr: ['pwd'] })
    expect(Date.parse(body.auth_time as string)).toBeGreaterThan(Date.now() - 2000)
    expect(claimsOf(body.access_token as string)).toMatchObject({
      aal: 'aal1',
      amr: ['pwd'],
      auth_time: Math.floor(Date.parse(body.auth_time as string) / 1000),
    })
    expect((await patchMe(tokens.access_token, { email: newAccount().email }, env)).status).toBe(200)
  })

  it('answers a wrong password at re-authentication with invalid_password, audits it and shares the login backoff', async () => {
    const { tokens } = await signedIn()
    const env = { LOGIN_FREE_FAILURES: '2' }
    await expectProblem(await reauthenticate(tokens.access_token, { password: 'not-the-password-at-all' }, env), 403, 'invalid_password')
    await expectProblem(await reauthenticate(tokens.access_token, { password: 'not-the-password-at-all' }, env), 403, 'invalid_password')
    const throttled = await reauthenticate(tokens.access_token, { password: 'not-the-password-at-all' }, env)
    await expectProblem(throttled, 429, 'rate_limited')
    expect(throttled.headers.get('Retry-After')).toBe('1')
  })

  it('needs a recent proof for the export too', async () => {
    const { tokens } = await signedIn()
    await sleep(1100)
    await expectProblem(
      await call('/users/me/export', { token: tokens.access_token, env: { REAUTH_MAX_AGE_SECONDS: '1' } }),
      403,
      'reauthentication_required',
    )
  })
})

describe('an address change is confirmed by the new address and undone from the old one', () => {
  it('keeps the old address until the new one follows its link, then tells the old one with a link that undoes it', async () => {
    const { rig, account, tokens, env } = await withMail()
    const target = newAccount().email
    expect((await patchMe(tokens.access_token, { email: target }, env)).status).toBe(200)
    // Pending: logins and resets still go by the old address.
    expect((await login({ username: account.email, password: account.password })).user.email).toBe(account.email)

    const confirmation = await mailTo(rig, target)
    const confirmed = await verify(linkIn(confirmation).token, env)
    expect(confirmed.status).toBe(200)
    expect(((await confirmed.json()) as { user: object }).user).toMatchObject({ email: target, email_verified: true })
    // The session that asked stays signed in.
    expect((await me(tokens.access_token)).status).toBe(200)

    const notice = await mailTo(rig, account.email)
    const { link, token } = linkIn(notice)
    expect(link).toBe(`http://localhost:8787/revert-email#token=${token}`)
    const reverted = await revert(token, env)
    expect(reverted.status).toBe(200)
    expect(((await reverted.json()) as { user: object }).user).toMatchObject({ email: account.email, email_verified: true })
    // Whoever changed it is out: every session ended.
    expect((await me(tokens.access_token)).status).toBe(401)
    await expectProblem(await revert(token), 400, 'invalid_token')
  })

  it('replays the takeover with a stolen access token: the thief can only start a change the old address undoes', async () => {
    const { rig, account, tokens: stolen, env } = await withMail()
    const thief = newAccount().email
    expect((await patchMe(stolen.access_token, { email: thief }, env)).status).toBe(200)
    // A reset asked for the thief's address finds no account: the account's address is still the victim's.
    expect((await call('/users/password/forgot', { json: { email: thief }, env })).status).toBe(202)
    const confirmation = await mailTo(rig, thief)
    expect(rig.sent.filter((mail) => mail.to === thief)).toHaveLength(1)
    expect(confirmation?.subject).toBe('Confirm your new email address for edge-users')

    // The thief owns that mailbox and confirms; then asks for a reset there.
    expect((await verify(linkIn(confirmation).token, env)).status).toBe(200)
    const notice = await mailTo(rig, account.email)
    expect((await call('/users/password/forgot', { json: { email: thief }, env })).status).toBe(202)
    const resetLink = linkIn(await mailTo(rig, thief))

    // The owner undoes it from the old address: the thief's reset link dies with the address.
    expect((await revert(linkIn(notice).token, env)).status).toBe(200)
    await expectProblem(
      await call('/users/password/reset', { json: { token: resetLink.token, new_password: NEW_PASSWORD } }),
      400,
      'invalid_token',
    )
    expect((await login(account)).user.email).toBe(account.email)
  })

  it('holds a given-up address for its revert: a sign-up with it is refused while the revert link lives', async () => {
    const { rig, account, tokens, env } = await withMail()
    const thief = newAccount().email
    await patchMe(tokens.access_token, { email: thief }, env)
    expect((await verify(linkIn(await mailTo(rig, thief)).token, env)).status).toBe(200)
    const notice = await mailTo(rig, account.email)
    // A decoy account with the old address would make the revert collide with it.
    const decoy = await call('/users/signup', { json: newAccount({ email: account.email }) })
    await expectProblem(decoy, 409, 'email_taken')
    expect((await revert(linkIn(notice).token, env)).status).toBe(200)
    expect((await login(account)).user.email).toBe(account.email)
  })

  it('lets a later revert link not outvote an earlier one: the first owner has the last word', async () => {
    const { rig, account, tokens, env } = await withMail()
    const second = newAccount().email
    const third = newAccount().email
    await patchMe(tokens.access_token, { email: second }, env)
    expect((await verify(linkIn(await mailTo(rig, second)).token, env)).status).toBe(200)
    const firstNotice = await mailTo(rig, account.email)
    await patchMe(tokens.access_token, { email: third }, env)
    expect((await verify(linkIn(await mailTo(rig, third)).token, env)).status).toBe(200)
    const secondNotice = await mailTo(rig, second)

    // Undoing the later change first puts `second` back; the owner's older link still wins after it.
    expect((await revert(linkIn(secondNotice).token, env)).status).toBe(200)
    expect((await revert(linkIn(firstNotice).token, env)).status).toBe(200)
    expect((await login(account)).user.email).toBe(account.email)
  })

  it('binds a reset link to the address it went to: a pending change leaves it working and the address the same', async () => {
    const { rig, account, tokens, env } = await withMail()
    expect((await call('/users/password/forgot', { json: { email: account.email }, env })).status).toBe(202)
    const link = linkIn(await mailTo(rig, account.email))
    const victim = newAccount().email
    expect((await patchMe(tokens.access_token, { email: victim }, env)).status).toBe(200)

    expect((await call('/users/password/reset', { json: { token: link.token, new_password: NEW_PASSWORD } })).status).toBe(204)
    const after = await login({ username: account.username, password: NEW_PASSWORD })
    const own = (await (await me(after.access_token)).json()) as { user: Record<string, unknown> }
    // The reset verified only the address its link went to, and dropped the pending change.
    expect(own.user).toMatchObject({ email: account.email, email_verified: true, pending_email: null })
  })

  it('kills a reset link once the address it went to is no longer the account’s', async () => {
    const { rig, account, tokens, env } = await withMail()
    expect((await call('/users/password/forgot', { json: { email: account.email }, env })).status).toBe(202)
    const link = linkIn(await mailTo(rig, account.email))
    const moved = newAccount().email
    await patchMe(tokens.access_token, { email: moved }, env)
    expect((await verify(linkIn(await mailTo(rig, moved)).token, env)).status).toBe(200)
    await expectProblem(
      await call('/users/password/reset', { json: { token: link.token, new_password: NEW_PASSWORD } }),
      400,
      'invalid_token',
    )
  })

  it('sends the notice to the old address even past its hourly cap', async () => {
    // The signup's verification mail already used the cap of one.
    const { rig, account, tokens, env } = await withMail({ MAIL_PER_ADDRESS_PER_HOUR: '1' })
    const next = newAccount().email
    await patchMe(tokens.access_token, { email: next }, env)
    expect((await verify(linkIn(await mailTo(rig, next)).token, env)).status).toBe(200)
    const notice = await mailTo(rig, account.email)
    expect(notice?.subject).toBe('Your edge-users email address was changed')
  })

  it('coalesces a notice past the cap into the revert link the old address already holds, which undoes that change too', async () => {
    const { rig, account, tokens, env } = await withMail({ MAIL_PER_ADDRESS_PER_HOUR: '3' })
    const notices = () => rig.sent.filter((mail) => mail.to === account.email && mail.subject.includes('was changed'))
    const away = async (to: string) => {
      await patchMe(tokens.access_token, { email: to }, env)
      expect((await verify(linkIn(await mailTo(rig, to)).token, env)).status).toBe(200)
      await deliver(rig.jobs.splice(0), rig)
    }
    await away(newAccount().email) // the verification mail and this notice: two of three
    expect(notices()).toHaveLength(1)
    await away(account.email) // its confirmation mail: three of three
    await away(newAccount().email)
    expect(notices()).toHaveLength(1)
    expect((await revert(linkIn(notices()[0]).token, env)).status).toBe(200)
    expect((await login(account)).user.email).toBe(account.email)
  })
})

describe('PATCH /users/me is budgeted', () => {
  it('answers 429 past PROFILE_CHANGES_PER_HOUR changes of one account, whatever the network', async () => {
    const { account, tokens } = await signedIn()
    const env = { PROFILE_CHANGES_PER_HOUR: '3' }
    for (let i = 0; i < 3; i++)
      expect((await patchMe(tokens.access_token, { username: `${account.username.slice(0, 20)}_${i}` }, env)).status).toBe(200)
    const refused = await patchMe(tokens.access_token, { username: `${account.username.slice(0, 20)}_x` }, env)
    await expectProblem(refused, 429, 'rate_limited')
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(0)
  })

  it("spends from the client network's budget, across accounts", async () => {
    const ip = '203.0.113.77'
    const env = { RATE_LIMIT_PER_IP_PER_MINUTE: '2' }
    const statuses = []
    for (let i = 0; i < 3; i++) {
      const { account, tokens } = await signedIn()
      const response = await call('/users/me', {
        method: 'PATCH',
        token: tokens.access_token,
        json: { username: `${account.username.slice(0, 20)}_n` },
        env,
        headers: { 'CF-Connecting-IP': ip },
      })
      statuses.push(response.status)
    }
    expect(statuses).toEqual([200, 200, 429])
  })
})

describe('the personal-data export', () => {
  it('shows an event someone else caused with their role only: no id, address or user agent', async () => {
    const admin = await asAdmin()
    const { user, account } = await signup()
    await adminCall(admin.token, `/users/${user.id}`, {
      method: 'PATCH',
      json: { disabled: true },
      headers: { 'User-Agent': 'staff-browser/1.0' },
    })
    await adminCall(admin.token, `/users/${user.id}`, { method: 'PATCH', json: { disabled: false } })
    const tokens = await login(account)
    const text = await (await call('/users/me/export', { token: tokens.access_token })).text()
    const events = (JSON.parse(text) as { audit_events: Record<string, unknown>[] }).audit_events
    const staff = events.filter((event) => event.action === 'admin.user_disabled' || event.action === 'admin.user_enabled')
    expect(staff).toHaveLength(2)
    for (const event of staff) expect(event).toMatchObject({ actor_id: null, actor_role: 'admin', ip: null, user_agent: null })
    expect(text).not.toContain(admin.user.id)
    expect(text).not.toContain('staff-browser')
    // The user's own events are whole.
    expect(events.find((event) => event.action === 'user.signup')).toMatchObject({ actor_id: user.id })
  })
})
