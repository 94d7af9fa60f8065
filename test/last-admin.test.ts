import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import { adminCall, asAdmin, call, expectProblem } from './helpers'

async function enabledAdmins(): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0").first<{ n: number }>()
  return row!.n
}

// Every test starts with no admin at all; the storage of this file is its own.
beforeEach(async () => {
  await env.DB.prepare("DELETE FROM users WHERE role = 'admin'").run()
})

describe('the last enabled admin', () => {
  it('cannot be demoted, disabled or deleted, by the admin API or by themselves', async () => {
    const solo = await asAdmin()
    const self = `/users/${solo.user.id}`
    await expectProblem(await adminCall(solo.token, self, { method: 'PATCH', json: { role: 'moderator' } }), 409, 'last_admin')
    await expectProblem(await adminCall(solo.token, self, { method: 'PATCH', json: { disabled: true } }), 409, 'last_admin')
    await expectProblem(await adminCall(solo.token, self, { method: 'DELETE' }), 409, 'last_admin')
    await expectProblem(
      await call('/users/me', { method: 'DELETE', token: solo.token, json: { password: solo.account.password } }),
      409,
      'last_admin',
    )
    expect(await enabledAdmins()).toBe(1)
    expect((await adminCall(solo.token, '/users')).status).toBe(200)
  })

  it('can step down once another enabled admin exists', async () => {
    const first = await asAdmin()
    await asAdmin()
    const response = await adminCall(first.token, `/users/${first.user.id}`, { method: 'PATCH', json: { role: 'user' } })
    expect(response.status).toBe(200)
    expect(await enabledAdmins()).toBe(1)
  })

  it('does not count a disabled admin as an admin', async () => {
    const active = await asAdmin()
    const other = await asAdmin()
    expect((await adminCall(active.token, `/users/${other.user.id}`, { method: 'PATCH', json: { disabled: true } })).status).toBe(200)
    await expectProblem(
      await adminCall(active.token, `/users/${active.user.id}`, { method: 'PATCH', json: { role: 'user' } }),
      409,
      'last_admin',
    )
  })

  it('may still change other things about the last admin', async () => {
    const solo = await asAdmin()
    const response = await adminCall(solo.token, `/users/${solo.user.id}`, { method: 'PATCH', json: { role: 'admin', disabled: false } })
    expect(response.status).toBe(200)
  })

  it('survives two admins demoting each other at the same moment: one wins, one admin is left', async () => {
    for (let round = 0; round < 5; round++) {
      await env.DB.prepare("DELETE FROM users WHERE role = 'admin'").run()
      const [a, b] = [await asAdmin(), await asAdmin()]
      const responses = await Promise.all([
        adminCall(a.token, `/users/${b.user.id}`, { method: 'PATCH', json: { role: 'user' } }),
        adminCall(b.token, `/users/${a.user.id}`, { method: 'PATCH', json: { role: 'user' } }),
      ])
      const statuses = responses.map((response) => response.status).sort()
      // The loser is refused by the guard (409) or, if the winner's write landed first, is no
      // longer an admin when its request is authorised (403). Never both succeed.
      expect(statuses[0], `round ${round}`).toBe(200)
      expect([403, 409], `round ${round}`).toContain(statuses[1])
      expect(await enabledAdmins()).toBe(1)
    }
  })

  it('survives two admins disabling each other at the same moment', async () => {
    for (let round = 0; round < 5; round++) {
      await env.DB.prepare("DELETE FROM users WHERE role = 'admin'").run()
      const [a, b] = [await asAdmin(), await asAdmin()]
      const responses = await Promise.all([
        adminCall(a.token, `/users/${b.user.id}`, { method: 'PATCH', json: { disabled: true } }),
        adminCall(b.token, `/users/${a.user.id}`, { method: 'PATCH', json: { disabled: true } }),
      ])
      expect(responses.filter((response) => response.status === 200)).toHaveLength(1)
      expect(await enabledAdmins()).toBe(1)
    }
  })
})
