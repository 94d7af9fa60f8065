import { describe, expect, it } from 'vitest'
import { asAdmin, call, claimsOf, expectProblem, mailRig, refresh, verifiedSignedIn } from './helpers'
import {
  accept,
  addMember,
  checked,
  createOrg,
  defineRole,
  invitationFor,
  invite,
  newSlug,
  type Organization,
  orgAudit,
  orgWith,
  ownedOrg,
  ownersOf,
  postRole,
  removeMember,
  rolesOf,
  setActiveOrg,
  setRoles,
} from './org-helpers'

/*
 * The organizations' rules as an independent review tried to break them from the outside (of
 * commit cde425e; twelve of these failed there and were fixed). Each pins what the contract or
 * the issue asks for.
 */

const getOrg = (ref: string, token: string) => call(`/orgs/${ref}`, { token })
const deleteOrg = (ref: string, token: string) => call(`/orgs/${ref}`, { method: 'DELETE', token })
const patchRole = (ref: string, token: string, name: string, permissions: string[]) =>
  call(`/orgs/${ref}/roles/${name}`, { method: 'PATCH', token, json: { permissions } })

describe('privilege escalation through custom roles', () => {
  it('an admin cannot give itself organization:delete by defining a role and taking it', async () => {
    const { org, token: ownerToken, members } = await orgWith(['admin'])
    const admin = members[0]!
    // The two steps an admin (role:manage + member:update, no organization:delete) may try.
    await postRole(org.id, admin.token, 'deleter', ['organization:delete'])
    await setRoles(org.id, admin.token, admin.user.id, ['admin', 'deleter'])
    await postRole(org.id, admin.token, 'everything', ['organization:*'])
    await setRoles(org.id, admin.token, admin.user.id, ['admin', 'everything'])

    expect(await checked(org.id, admin.token, ['organization:delete'])).toEqual({ allowed: false, missing: ['organization:delete'] })
    await expectProblem(await deleteOrg(org.id, admin.token), 403, 'forbidden')
    expect((await getOrg(org.id, ownerToken)).status).toBe(200)
  })

  it('a member holding only role:manage cannot widen its own role into every permission', async () => {
    const { org, token: ownerToken, members } = await orgWith(['member'])
    const manager = members[0]!
    await defineRole(org.id, ownerToken, 'roles', ['role:manage'])
    expect((await setRoles(org.id, ownerToken, manager.user.id, ['member', 'roles'])).status).toBe(200)

    // It changes the very role it holds: it has the new permissions on its next request.
    await patchRole(org.id, manager.token, 'roles', ['role:manage', 'member:*', 'organization:*', 'audit:read'])

    const after = await checked(org.id, manager.token, ['member:remove', 'organization:update', 'organization:delete', 'audit:read'])
    expect(after.allowed).toBe(false)
    expect(after.missing).toEqual(['audit:read', 'member:remove', 'organization:delete', 'organization:update'])
  })
})

describe('granting roles the granter does not hold', () => {
  it('a member:update holder cannot make itself admin', async () => {
    const { org, token: ownerToken, members } = await orgWith(['member'])
    const clerk = members[0]!
    await defineRole(org.id, ownerToken, 'hr', ['member:update'])
    expect((await setRoles(org.id, ownerToken, clerk.user.id, ['member', 'hr'])).status).toBe(200)

    await expectProblem(await setRoles(org.id, clerk.token, clerk.user.id, ['member', 'hr', 'admin']), 403, 'forbidden')
    expect(await rolesOf(org.id, ownerToken, clerk.user.id)).toEqual(['hr', 'member'])
    expect((await checked(org.id, clerk.token, ['role:manage'])).allowed).toBe(false)
  })

  it('a member:invite holder cannot invite (a second address of its own) as admin', async () => {
    const { org, token: ownerToken, members } = await orgWith(['member'])
    const recruiter = members[0]!
    await defineRole(org.id, ownerToken, 'recruiter', ['member:invite'])
    expect((await setRoles(org.id, ownerToken, recruiter.user.id, ['member', 'recruiter'])).status).toBe(200)

    const sockPuppet = await verifiedSignedIn()
    await expectProblem(await invite(org.id, recruiter.token, sockPuppet.account.email, ['admin']), 403, 'forbidden')
  })
})

describe('a custom role named like an Object.prototype member', () => {
  it('a role called "constructor" is refused, or works like any other role: never a 500', async () => {
    const { org, token: ownerToken, members } = await orgWith(['member'])
    const member = members[0]!
    const defined = await postRole(org.id, ownerToken, 'constructor', ['billing:read'])
    if (defined.status === 400) return // refused as a reserved name: also correct
    expect(defined.status).toBe(201)
    expect((await setRoles(org.id, ownerToken, member.user.id, ['member', 'constructor'])).status).toBe(200)

    expect((await getOrg(org.id, member.token)).status).toBe(200)
    expect(await checked(org.id, member.token, ['billing:read'])).toEqual({ allowed: true, missing: [] })
    expect((await call(`/orgs/${org.id}/members`, { token: member.token })).status).toBe(200)
  })

  it('a member an admin gave "constructor" is not locked out of the organization (it can still read it and leave)', async () => {
    const { org, members } = await orgWith(['admin'], ['member'])
    const [admin, victim] = [members[0]!, members[1]!]
    const defined = await postRole(org.id, admin.token, 'constructor', [])
    if (defined.status === 400) return
    expect((await setRoles(org.id, admin.token, victim.user.id, ['member', 'constructor'])).status).toBe(200)

    expect((await checked(org.id, admin.token, ['audit:read'], victim.user.id)).allowed).toBe(false)
    expect((await getOrg(org.id, victim.token)).status).toBe(200)
    expect((await removeMember(org.id, victim.token, victim.user.id)).status).toBe(204)
  })
})

describe('invitations', () => {
  it('a member removed cannot come back through a second invitation that was still open', async () => {
    const { org, token: ownerToken } = await ownedOrg()
    const person = await verifiedSignedIn()
    const first = await invitationFor(org.id, ownerToken, person.account.email, ['member'])
    // The owner sent it again (the first mail seemed lost): both are open.
    const second = await invitationFor(org.id, ownerToken, person.account.email, ['member'])
    expect((await accept(person.tokens.access_token, first.token)).status).toBe(200)
    expect((await removeMember(org.id, ownerToken, person.user.id)).status).toBe(204)

    await expectProblem(await accept(person.tokens.access_token, second.token), 400, 'invalid_token')
    expect((await getOrg(org.id, person.tokens.access_token)).status).toBe(404)
  })

  it('an invitation accepted closes the other open invitations of the same address (none stays listed)', async () => {
    const { org, token: ownerToken } = await ownedOrg()
    const person = await verifiedSignedIn()
    const first = await invitationFor(org.id, ownerToken, person.account.email, ['member'])
    await invitationFor(org.id, ownerToken, person.account.email, ['admin'])
    expect((await accept(person.tokens.access_token, first.token)).status).toBe(200)
    const listed = (await (await call(`/orgs/${org.id}/invitations`, { token: ownerToken })).json()) as { invitations: unknown[] }
    expect(listed.invitations).toEqual([])
  })

  it('invitations are budgeted per account (each one mails an address the inviter chooses, with a name it chose)', async () => {
    const { org, token } = await ownedOrg({ name: 'Urgent: verify your bank account at https://evil.example' })
    const rig = mailRig()
    const statuses: number[] = []
    for (let i = 0; i < 40; i++) {
      const response = await invite(org.id, token, `victim${i}.${crypto.randomUUID().slice(0, 6)}@example.net`, ['member'], rig)
      statuses.push(response.status)
      if (response.status === 429) break
    }
    expect(statuses).toContain(429)
  })
})

describe('the last owner', () => {
  it("the last owner's account deletion leaves no organization without an owner", async () => {
    const owner = await verifiedSignedIn()
    const org = await createOrg(owner.tokens.access_token)
    const admin = await addMember(org.id, owner.tokens.access_token, ['admin'])

    const deleted = await call('/users/me', {
      method: 'DELETE',
      token: owner.tokens.access_token,
      json: { password: owner.account.password },
    })
    if (deleted.status === 409) return // refused while the sole owner (409 last_owner): correct
    expect(deleted.status).toBe(204)
    // Either the organization went with its only owner, or it still has an owner.
    const seen = await getOrg(org.id, admin.token)
    if (seen.status === 404) return
    expect(await ownersOf(org.id, admin.token)).not.toEqual([])
  })
})

describe('slugs and ids: the id wins', () => {
  it("an organization's slug cannot be another organization's id: a path with the id names that one", async () => {
    const { org: first, token } = await ownedOrg()
    const squatting = await call('/orgs', { token, json: { slug: first.id, name: 'Squatter' } })
    if (squatting.status === 400 || squatting.status === 409) return // refused: correct
    expect(squatting.status).toBe(201)
    const second = ((await squatting.json()) as { organization: Organization }).organization
    const seen = (await (await getOrg(first.id, token)).json()) as { organization: Organization }
    expect(seen.organization.id).toBe(first.id)
    // And the same through a slug change.
    const { org: third, token: t3 } = await ownedOrg()
    const renamed = await call(`/orgs/${second.id}`, { method: 'PATCH', token, json: { slug: third.id } })
    if (renamed.status === 200)
      expect(((await (await getOrg(third.id, t3)).json()) as { organization: Organization }).organization.id).toBe(third.id)
  })
})

describe('audit rows only for changes that happened', () => {
  it('two deletions of one organization at once write one org.deleted row', async () => {
    const { org, token } = await ownedOrg()
    const answers = await Promise.all([deleteOrg(org.id, token), deleteOrg(org.id, token), deleteOrg(org.id, token)])
    expect(answers.map((r) => r.status)).toContain(204)
    const admin = await asAdmin()
    const audit = (await (await call('/admin/audit?action=org.deleted&limit=100', { token: admin.token })).json()) as {
      events: { org_id?: string | null; action: string }[]
    }
    expect(audit.events.filter((event) => event.org_id === org.id)).toHaveLength(1)
  })

  it('an invitation accepted several times at once writes one org.member_added and one org.invitation_accepted', async () => {
    const { org, token: ownerToken } = await ownedOrg()
    const person = await verifiedSignedIn()
    const { token } = await invitationFor(org.id, ownerToken, person.account.email, ['member'])
    const answers = await Promise.all(Array.from({ length: 10 }, () => accept(person.tokens.access_token, token)))
    expect(answers.filter((r) => r.status === 200)).toHaveLength(1)
    const { events } = await orgAudit(org.id, ownerToken, 'limit=100')
    expect(events.filter((e) => e.action === 'org.invitation_accepted')).toHaveLength(1)
    expect(events.filter((e) => e.action === 'org.member_added')).toHaveLength(1)
  })
})

describe('a role deleted while being given', () => {
  it('no member ends up holding a role that does not exist', async () => {
    const { org, token: ownerToken, members } = await orgWith(['member'], ['member'], ['member'], ['member'])
    for (let round = 0; round < 4; round++) {
      const name = `temp${round}`
      await defineRole(org.id, ownerToken, name, ['billing:read'])
      const target = members[round]!
      await Promise.all([
        setRoles(org.id, ownerToken, target.user.id, ['member', name]),
        call(`/orgs/${org.id}/roles/${name}`, { method: 'DELETE', token: ownerToken }),
      ])
      const roles = (await (await call(`/orgs/${org.id}/roles`, { token: ownerToken })).json()) as { roles: { name: string }[] }
      const exists = roles.roles.some((role) => role.name === name)
      const held = (await rolesOf(org.id, ownerToken, target.user.id)) ?? []
      if (held.includes(name)) expect(exists, `${name} is held but was deleted`).toBe(true)
    }
  })
})

describe('hostile input never gets a 5xx', () => {
  const hostile: unknown[] = [
    null,
    42,
    'x',
    [],
    {},
    { roles: null },
    { roles: [null] },
    { roles: Array.from({ length: 10_000 }, () => 'member') },
    { roles: ['owner\u0000'] },
    { roles: [1, 2] },
    { permissions: Array.from({ length: 10_000 }, () => 'a:b') },
    { permissions: ['a:b', 42] },
    { permissions: ['ＡＢＣ:ｄｅｆ'] },
    { permissions: ['a:b'], user_id: 42 },
    { permissions: ['a:b'], user_id: 'x'.repeat(10_000) },
    { name: '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', slug: 'İstanbul' },
    { name: 'x'.repeat(100_000), slug: 'ok-slug' },
    { slug: 12345, name: ['a'] },
    { email: 'a@b.c', roles: ['member'], extra: { deep: [1, [2, [3]]] } },
    { email: '\u202e@example.com', roles: ['member'] },
    { token: 'x'.repeat(200) },
    { token: 42 },
    { org: 42 },
    { org: { id: 'x' } },
    { org: 'x'.repeat(1000) },
  ]

  it('on every route of the section', async () => {
    const { org, token, members } = await orgWith(['member'])
    const other = members[0]!
    const paths: [string, string][] = [
      ['POST', '/orgs'],
      ['PATCH', `/orgs/${org.id}`],
      ['PATCH', `/orgs/${org.id}/members/${other.user.id}`],
      ['POST', `/orgs/${org.id}/invitations`],
      ['POST', '/invitations/accept'],
      ['POST', `/orgs/${org.id}/roles`],
      ['PATCH', `/orgs/${org.id}/roles/nonexistent`],
      ['POST', `/orgs/${org.id}/permissions/check`],
      ['PUT', '/users/me/active-organization'],
    ]
    const failures: string[] = []
    for (const [method, path] of paths)
      for (const body of hostile) {
        const response = await call(path, { method, token, json: body })
        if (response.status >= 500) failures.push(`${method} ${path} ${JSON.stringify(body).slice(0, 80)} → ${response.status}`)
      }
    const odd = [
      `/orgs/${'%F0%9F%92%A9'.repeat(30)}`,
      `/orgs/%E0%A4%A`,
      `/orgs/${org.id}/members?limit=-1`,
      `/orgs/${org.id}/members?cursor=%00%00`,
      `/orgs/${org.id}/members?cursor=${'A'.repeat(5000)}`,
      `/orgs/${org.id}/audit?cursor=!!!&action=nope`,
      `/orgs/${org.id}/members/${'x'.repeat(3000)}`,
      `/orgs/${org.slug.toUpperCase()}`,
    ]
    for (const path of odd) {
      const response = await call(path, { token })
      if (response.status >= 500) failures.push(`GET ${path.slice(0, 80)} → ${response.status}`)
      const deleted = await call(path, { method: 'DELETE', token: other.token })
      if (deleted.status >= 500) failures.push(`DELETE ${path.slice(0, 80)} → ${deleted.status}`)
    }
    expect(failures).toEqual([])
  })
})

describe('stale claims', () => {
  it('org claims are gone at the next refresh after removal, and after the organization is deleted and recreated with its slug', async () => {
    const { org, token: ownerToken } = await ownedOrg()
    const member = await addMember(org.id, ownerToken, ['admin'])
    const set = await setActiveOrg(member.token, org.slug)
    expect(set.status).toBe(200)
    expect(claimsOf(((await set.json()) as { access_token: string }).access_token).org_id).toBe(org.id)
    expect((await removeMember(org.id, ownerToken, member.user.id)).status).toBe(204)
    const refreshed = (await (await refresh(member.tokens.refresh_token)).json()) as { access_token: string }
    expect(claimsOf(refreshed.access_token).org_id).toBeUndefined()

    const again = await ownedOrg()
    const slug = newSlug('reborn')
    const first = await createOrg(again.token, { slug })
    expect((await setActiveOrg(again.token, slug)).status).toBe(200)
    expect((await deleteOrg(first.id, again.token)).status).toBe(204)
    const reborn = await createOrg(again.token, { slug })
    const after = (await (await refresh(again.owner.tokens.refresh_token)).json()) as { access_token: string }
    expect(claimsOf(after.access_token).org_id).toBeUndefined()
    expect(reborn.id).not.toBe(first.id)
  })
})
