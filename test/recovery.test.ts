import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { passwordResetMail } from '../src/mail/templates'
import {
  adminCall,
  asAdmin,
  call,
  deliver,
  expectProblem,
  linkIn,
  login,
  mailRig,
  me,
  newAccount,
  refresh,
  signedIn,
  signup,
} from './helpers'

const NEW_PASSWORD = 'quiet-meadow-lighthouse-42'

afterEach(() => {
  vi.useRealTimers()
})

function forgot(email: string, rig: ReturnType<typeof mailRig>, headers: Record<string, string> = {}) {
  return call('/users/password/forgot', { json: { email }, env: rig.env, headers })
}

const reset = (token: string, newPassword = NEW_PASSWORD) => call('/users/password/reset', { json: { token, new_password: newPassword } })
const verify = (token: string, env?: Record<string, unknown>) => call('/users/email/verify', { json: { token }, env })

/** Asks for a reset and delivers it: the mail and its token. */
async function resetLinkFor(email: string, rig = mailRig()) {
  expect((await forgot(email, rig)).status).toBe(202)
  await deliver(rig.jobs.splice(0), rig)
  const mail = rig.sent.at(-1)
  return { mail, ...linkIn(mail), rig }
}

describe('password reset', () => {
  it('mails a single-use link, sets the password, ends every session and marks the address verified', async () => {
    const { account, tokens } = await signedIn()
    const { mail, link, token } = await resetLinkFor(account.email)
    expect(mail).toMatchObject({ from: 'edge-users@example.com', to: account.email, subject: 'Reset your edge-users password' })
    expect(link).toBe(`http://localhost:8787/reset-password#token=${token}`)
    expect(mail?.text).toContain('for 30 minutes')
    expect(mail?.text).toContain('If you did not ask for this')
    expect(mail?.html).toContain(`href="${link}"`)

    expect((await reset(token)).status).toBe(204)
    expect((await me(tokens.access_token)).status).toBe(401)
    expect((await refresh(tokens.refresh_token)).status).toBe(401)
    await expectProblem(
      await call('/users/login', { json: { username: account.username, password: account.password } }),
      401,
      'invalid_credentials',
    )
    const fresh = await login({ username: account.username, password: NEW_PASSWORD })
    expect(fresh.user.email_verified).toBe(true)

    const admin = await asAdmin()
    const audit = (await (await adminCall(admin.token, `/audit?user_id=${fresh.user.id}`)).json()) as { events: { action: string }[] }
    expect(audit.events.map((e) => e.action)).toEqual(expect.arrayContaining(['user.password_reset_requested', 'user.password_reset']))
  })

  it('refuses a used link, a forged one and an unknown one with the same invalid_token', async () => {
    const { account } = await signup()
    const { token } = await resetLinkFor(account.email)
    expect((await reset(token)).status).toBe(204)
    const reused = await expectProblem(await reset(token, 'another-quiet-meadow-77'), 400, 'invalid_token')
    const forged = await expectProblem(await reset(`${token.slice(0, -2)}AA`), 400, 'invalid_token')
    expect(forged.detail).toBe(reused.detail)
    await expectProblem(await reset('x'.repeat(43)), 400, 'invalid_token')
  })

  it('refuses a link after RESET_TOKEN_TTL_SECONDS', async () => {
    const { account } = await signup()
    const { token } = await resetLinkFor(account.email)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 1801 * 1000)
    await expectProblem(await reset(token), 400, 'invalid_token')
  })

  it('refuses a link once the password changed by another path', async () => {
    const { account, tokens } = await signedIn()
    const { token } = await resetLinkFor(account.email)
    const change = await call('/users/me/password', {
      token: tokens.access_token,
      json: { current_password: account.password, new_password: 'changed-another-way-1234' },
    })
    expect(change.status).toBe(204)
    await expectProblem(await reset(token), 400, 'invalid_token')
    expect((await call('/users/login', { json: { username: account.username, password: 'changed-another-way-1234' } })).status).toBe(200)
  })

  it('supersedes an earlier link with a newer one', async () => {
    const { account } = await signup()
    const first = await resetLinkFor(account.email)
    const second = await resetLinkFor(account.email)
    await expectProblem(await reset(first.token), 400, 'invalid_token')
    expect((await reset(second.token)).status).toBe(204)
  })

  it('keeps the link working when the new password breaks the policy', async () => {
    const { account } = await signup()
    const { token } = await resetLinkFor(account.email)
    const weak = await expectProblem(await reset(token, 'short'), 400, 'validation_failed')
    expect(weak.errors?.map((e) => e.path)).toEqual(['new_password'])
    const withName = await expectProblem(await reset(token, `${account.username}-and-more`), 400, 'validation_failed')
    expect(withName.errors?.[0]?.path).toBe('new_password')
    expect((await reset(token)).status).toBe(204)
  })

  it('answers forgot with the same bytes for a known and an unknown address, and queues the same job', async () => {
    const { account } = await signup()
    const rig = mailRig()
    const headers = { 'X-Request-Id': 'same-request-id' }
    const known = await forgot(account.email, rig, headers)
    const unknown = await forgot(newAccount().email, rig, headers)
    expect(known.status).toBe(202)
    expect(unknown.status).toBe(202)
    expect(await known.text()).toBe(await unknown.text())
    expect(rig.jobs).toHaveLength(2)
    expect(rig.jobs.map((job) => Object.keys(job as object).sort())).toEqual([
      ['email', 'id', 'kind'],
      ['email', 'id', 'kind'],
    ])
    await deliver(rig.jobs, rig)
    expect(rig.sent.map((mail) => mail.to)).toEqual([account.email])
  })

  it(`sends at most MAIL_PER_ADDRESS_PER_HOUR mails to one address and still answers 202`, async () => {
    const { account } = await signup()
    const rig = mailRig()
    for (let i = 0; i < 4; i++) expect((await forgot(account.email, rig)).status).toBe(202)
    const result = await deliver(rig.jobs, rig)
    expect(rig.sent).toHaveLength(3)
    expect(result.explicitAcks).toHaveLength(4)
  })

  it('is refused past the per-IP budget like every unauthenticated POST', async () => {
    const rig = mailRig()
    const headers = { 'CF-Connecting-IP': '203.0.113.77' }
    const limited = { ...rig.env, RATE_LIMIT_PER_IP_PER_MINUTE: '2' }
    const ask = () => call('/users/password/forgot', { json: { email: newAccount().email }, env: limited, headers })
    expect((await ask()).status).toBe(202)
    expect((await ask()).status).toBe(202)
    await expectProblem(await ask(), 429, 'rate_limited')
  })
})

describe('mail delivery through the queue', () => {
  it('sends one mail when the same job is delivered twice', async () => {
    const { account } = await signup()
    const rig = mailRig()
    await forgot(account.email, rig)
    const first = await deliver(rig.jobs, rig)
    const second = await deliver(rig.jobs, rig)
    expect(rig.sent).toHaveLength(1)
    expect(first.explicitAcks).toHaveLength(1)
    expect(second.explicitAcks).toHaveLength(1)
  })

  it('retries a failed send with a growing delay, then sends once the provider is back', async () => {
    const { account } = await signup()
    const rig = mailRig({ failSends: 2 })
    await forgot(account.email, rig)
    const firstTry = await deliver(rig.jobs, rig, { attempts: 1 })
    const secondTry = await deliver(rig.jobs, rig, { attempts: 2 })
    expect(firstTry.retryDelays).toEqual([30])
    expect(secondTry.retryDelays).toEqual([60])
    expect(rig.sent).toHaveLength(0)
    const thirdTry = await deliver(rig.jobs, rig, { attempts: 3 })
    expect(thirdTry.explicitAcks).toHaveLength(1)
    expect(rig.sent).toHaveLength(1)
    expect((await reset(linkIn(rig.sent[0]).token)).status).toBe(204)
  })

  it('records a dead-lettered job and never sends it afterwards', async () => {
    const { account } = await signup()
    const rig = mailRig({ failSends: 1 })
    await forgot(account.email, rig)
    await deliver(rig.jobs, rig)
    const dead = await deliver(rig.jobs, rig, { queue: 'edge-users-mail-dead' })
    expect(dead.explicitAcks).toHaveLength(1)
    const late = await deliver(rig.jobs, rig, { attempts: 7 })
    expect(late.explicitAcks).toHaveLength(1)
    expect(rig.sent).toHaveLength(0)
  })

  it('settles each message on its own: an unreadable one is retried, the others are sent', async () => {
    const { account } = await signup()
    const rig = mailRig()
    await forgot(account.email, rig)
    const result = await deliver([{ kind: 'nonsense' }, ...rig.jobs], rig)
    expect(result.retryMessages).toHaveLength(1)
    expect(result.explicitAcks).toHaveLength(1)
    expect(rig.sent).toHaveLength(1)
  })
})

describe('email verification', () => {
  it('mails a link at signup that verifies the address once', async () => {
    const rig = mailRig()
    const account = newAccount()
    const created = await call('/users/signup', { json: account, env: rig.env })
    expect(created.status).toBe(201)
    expect(rig.jobs).toHaveLength(1)
    await deliver(rig.jobs, rig)
    const { link, token } = linkIn(rig.sent[0])
    expect(rig.sent[0]).toMatchObject({ to: account.email, subject: 'Confirm your email address for edge-users' })
    expect(link).toBe(`http://localhost:8787/verify-email#token=${token}`)
    expect(rig.sent[0]?.text).toContain('for 24 hours')

    const verified = await verify(token)
    expect(verified.status).toBe(200)
    expect(((await verified.json()) as { user: { email_verified: boolean } }).user.email_verified).toBe(true)
    await expectProblem(await verify(token), 400, 'invalid_token')
  })

  it('refuses a link sent to an address the account no longer has once the new one confirmed, and sends a never-proved old address no revert link', async () => {
    const rig = mailRig()
    const account = newAccount()
    await call('/users/signup', { json: account, env: rig.env })
    await deliver(rig.jobs.splice(0), rig)
    const oldLink = linkIn(rig.sent[0])
    const { access_token } = await login(account)
    const moved = newAccount().email
    const patch = await call('/users/me', { method: 'PATCH', token: access_token, json: { email: moved }, env: rig.env })
    expect(patch.status).toBe(200)

    await deliver(rig.jobs.splice(0), rig)
    const toNew = rig.sent.find((mail) => mail.to === moved)
    expect(toNew?.subject).toBe('Confirm your new email address for edge-users')
    expect((await verify(linkIn(toNew).token, rig.env)).status).toBe(200)
    await expectProblem(await verify(oldLink.token), 400, 'invalid_token')

    // The old address was never proved: a revert link would bring it back verified (see
    // test/ways-in.test.ts), so it gets none; a proved one does (test/sensitive-actions.test.ts).
    await deliver(rig.jobs.splice(0), rig)
    expect(rig.sent.filter((mail) => mail.to === account.email && mail !== rig.sent[0])).toEqual([])
  })

  it('sends a new verification mail on request, and none once verified', async () => {
    const rig = mailRig()
    const account = newAccount()
    await call('/users/signup', { json: account, env: rig.env })
    rig.jobs.splice(0)
    const ask = (token: string) => call('/users/me/email/verification', { method: 'POST', token, env: rig.env })
    const accepted = await ask((await login(account)).access_token)
    expect(accepted.status).toBe(202)
    expect(await accepted.json()).toEqual({ status: 'accepted' })
    await deliver(rig.jobs.splice(0), rig)
    expect((await verify(linkIn(rig.sent[0]).token)).status).toBe(200)
    // The address's first proof ended every session: a new one asks again.
    expect((await ask((await login(account)).access_token)).status).toBe(202)
    expect(rig.jobs).toHaveLength(0)
  })

  it('with EMAIL_VERIFICATION_REQUIRED, refuses login to an unverified account only after the password is checked', async () => {
    const rig = mailRig()
    const account = newAccount()
    await call('/users/signup', { json: account, env: rig.env })
    const required = { EMAIL_VERIFICATION_REQUIRED: 'true' }
    const attempt = (password: string) => call('/users/login', { json: { username: account.username, password }, env: required })
    await expectProblem(await attempt('not-the-password-at-all'), 401, 'invalid_credentials')
    await expectProblem(await attempt(account.password), 403, 'email_not_verified')
    await deliver(rig.jobs, rig)
    await verify(linkIn(rig.sent[0]).token)
    expect((await attempt(account.password)).status).toBe(200)
  })
})

describe('mail links as proofs', () => {
  it('audits every refused link with its purpose and why: an unknown token, and one whose password changed since', async () => {
    const { account, user, tokens } = await signedIn()
    const { token } = await resetLinkFor(account.email)
    await expectProblem(await reset('no-such-token-at-all'), 400, 'invalid_token')
    const changed = await call('/users/me/password', {
      token: tokens.access_token,
      json: { current_password: account.password, new_password: 'another-harbour-lantern-77' },
    })
    expect(changed.status).toBe(204)
    await expectProblem(await reset(token), 400, 'invalid_token')
    const admin = await asAdmin()
    const { events } = (await (await adminCall(admin.token, '/audit?action=user.mail_link_failed&limit=100')).json()) as {
      events: { target_id: string | null; details: Record<string, string> }[]
    }
    expect(events.find((event) => event.target_id === user.id)?.details).toEqual({ purpose: 'password_reset', reason: 'binding_changed' })
    expect(events.some((event) => event.target_id === null && event.details.reason === 'unknown_token')).toBe(true)
  })
})

describe('mail templates', () => {
  it('escapes everything the HTML part interpolates', () => {
    const mail = passwordResetMail({
      product: 'Acme <i>Accounts</i>',
      to: '"<b>x</b>"@example.com',
      link: 'https://app.example/reset#token=a"><script>',
      ttlSeconds: 1800,
    })
    expect(mail.html).not.toContain('<b>x</b>')
    expect(mail.html).not.toContain('<i>Accounts</i>')
    expect(mail.html).not.toContain('<script>')
    expect(mail.html).toContain('&lt;b&gt;')
    expect(mail.text).toContain('<b>x</b>')
  })
})

it('signs every mail with PRODUCT_NAME', async () => {
  const rig = mailRig()
  const account = newAccount()
  await call('/users/signup', { json: account, env: rig.env })
  await deliver(rig.jobs, rig, { env: { PRODUCT_NAME: 'Acme Accounts' } })
  expect(rig.sent[0]?.subject).toBe('Confirm your email address for Acme Accounts')
  expect(rig.sent[0]?.text).toContain(`your Acme Accounts account`)
  expect(rig.sent[0]?.text.endsWith('— Acme Accounts')).toBe(true)
})

it('uses the configured APP_URL for links', async () => {
  const { account } = await signup()
  const rig = mailRig()
  await forgot(account.email, rig)
  // Passkeys follow APP_URL by default, so its relying party moves with it.
  await deliver(rig.jobs, rig, { env: { APP_URL: 'https://app.example.com', WEBAUTHN_RP_ID: 'example.com' } })
  expect(linkIn(rig.sent[0]).link.startsWith('https://app.example.com/reset-password#token=')).toBe(true)
  expect(env.APP_URL).toBe('')
})
