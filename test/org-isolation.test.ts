import { beforeAll, describe, expect, it } from 'vitest'
import { asAdmin, call, expectProblem, type Problem, verifiedSignedIn } from './helpers'
import {
  accept,
  addMember,
  checkPermissions,
  defineRole,
  type Invitation,
  invitationFor,
  invite,
  listMembers,
  newSlug,
  type Organization,
  ownedOrg,
  postRole,
  type Role,
  removeMember,
  rolesOf,
  setActiveOrg,
  setRoles,
} from './org-helpers'

/**
 * "An organization a caller is not a member of is 404 not_found on every route": one test per
 * route of the section, each asked by a member of another organization, by a site admin who is no
 * member, and by a member removed since, with the organization's id and with its slug. Each one
 * also gets the same answer as for an organization that does not exist, and changes nothing.
 */

type Person = { token: string; id: string; email: string }

let acme: {
  org: Organization
  owner: Person
  member: Person
  invitation: Invitation
  invitationToken: string
  invitee: Awaited<ReturnType<typeof verifiedSignedIn>>
}
let globex: { org: Organization; owner: Person; member: Person }
let outsiders: { who: string; token: string }[]

const person = (signed: { tokens: { access_token: string }; user: { id: string }; account: { email: string } }): Person => ({
  token: signed.tokens.access_token,
  id: signed.user.id,
  email: signed.account.email,
})

beforeAll(async () => {
  // Acme: an owner, a member, a custom role, a pending invitation.
  const a = await ownedOrg()
  const acmeMember = await addMember(a.org.id, a.token, ['member'])
  await defineRole(a.org.id, a.token, 'billing', ['billing:read'])
  expect((await setRoles(a.org.id, a.token, acmeMember.user.id, ['member', 'billing'])).status).toBe(200)
  const invitee = await verifiedSignedIn()
  const pending = await invitationFor(a.org.id, a.token, invitee.account.email, ['member'])
  acme = {
    org: a.org,
    owner: person(a.owner),
    member: person(acmeMember),
    invitation: pending.invitation,
    invitationToken: pending.token,
    invitee,
  }

  // Globex: another organization, whose owner and member are outsiders to Acme.
  const g = await ownedOrg()
  const globexMember = await addMember(g.org.id, g.token, ['member'])
  globex = { org: g.org, owner: person(g.owner), member: person(globexMember) }

  // A member of Acme removed since: its access token is still genuine.
  const former = await addMember(a.org.id, a.token, ['admin'])
  expect((await removeMember(a.org.id, a.token, former.user.id)).status).toBe(204)

  const siteAdmin = await asAdmin()
  outsiders = [
    { who: 'the owner of another organization', token: globex.owner.token },
    { who: 'a site admin who is no member', token: siteAdmin.token },
    { who: 'a member removed since', token: former.token },
  ]
})

/**
 * Runs `request` against Acme by id and by slug for every outsider (each must be 404 not_found),
 * then against organizations that do not exist: the answers must say nothing more.
 */
async function expectHidden(request: (orgRef: string, token: string) => Promise<Response>) {
  let seen: Problem | undefined
  for (const { who, token } of outsiders) {
    for (const ref of [acme.org.id, acme.org.slug]) {
      const response = await request(ref, token)
      expect(response.status, `${who} via ${ref === acme.org.id ? 'id' : 'slug'}: ${await response.clone().text()}`).toBe(404)
      seen = await expectProblem(response, 404, 'not_found')
    }
  }
  for (const unknown of [crypto.randomUUID(), newSlug('nowhere')]) {
    const problem = await expectProblem(await request(unknown, globex.owner.token), 404, 'not_found')
    expect({ title: problem.title, detail: problem.detail }).toEqual({ title: seen!.title, detail: seen!.detail })
  }
}

async function acmeAsOwner(): Promise<Organization> {
  const response = await call(`/orgs/${acme.org.id}`, { token: acme.owner.token })
  expect(response.status).toBe(200)
  return ((await response.json()) as { organization: Organization }).organization
}

async function acmeInvitations(): Promise<Invitation[]> {
  const response = await call(`/orgs/${acme.org.id}/invitations`, { token: acme.owner.token })
  expect(response.status).toBe(200)
  return ((await response.json()) as { invitations: Invitation[] }).invitations
}

async function acmeRoles(): Promise<Role[]> {
  const response = await call(`/orgs/${acme.org.id}/roles`, { token: acme.owner.token })
  expect(response.status).toBe(200)
  return ((await response.json()) as { roles: Role[] }).roles
}

describe('every route of an organization answers 404 to a non-member', () => {
  it('GET /orgs/{org}', async () => {
    await expectHidden((ref, token) => call(`/orgs/${ref}`, { token }))
  })

  it('PATCH /orgs/{org}, and nothing changes', async () => {
    await expectHidden((ref, token) => call(`/orgs/${ref}`, { method: 'PATCH', token, json: { name: 'Taken over' } }))
    expect(await acmeAsOwner()).toMatchObject({ name: acme.org.name, slug: acme.org.slug })
  })

  it('DELETE /orgs/{org}, and the organization is still there', async () => {
    await expectHidden((ref, token) => call(`/orgs/${ref}`, { method: 'DELETE', token }))
    expect((await acmeAsOwner()).id).toBe(acme.org.id)
  })

  it('GET /orgs/{org}/members', async () => {
    await expectHidden((ref, token) => call(`/orgs/${ref}/members`, { token }))
  })

  it('PATCH /orgs/{org}/members/{user_id}, and the member’s roles are unchanged', async () => {
    await expectHidden((ref, token) => setRoles(ref, token, acme.member.id, ['admin']))
    expect(await rolesOf(acme.org.id, acme.owner.token, acme.member.id)).toEqual(['billing', 'member'])
  })

  it('DELETE /orgs/{org}/members/{user_id}, and the member is still one', async () => {
    await expectHidden((ref, token) => removeMember(ref, token, acme.member.id))
    // Nor can an outsider "leave" an organization it is not in.
    await expectProblem(await removeMember(acme.org.id, globex.owner.token, globex.owner.id), 404, 'not_found')
    expect((await listMembers(acme.org.id, acme.owner.token)).map((m) => m.user_id)).toContain(acme.member.id)
  })

  it('POST /orgs/{org}/invitations, and no invitation is made', async () => {
    const target = await verifiedSignedIn()
    await expectHidden((ref, token) => invite(ref, token, target.account.email, ['member']))
    expect((await acmeInvitations()).map((invitation) => invitation.email)).not.toContain(target.account.email)
  })

  it('GET /orgs/{org}/invitations', async () => {
    await expectHidden((ref, token) => call(`/orgs/${ref}/invitations`, { token }))
  })

  it('DELETE /orgs/{org}/invitations/{id}, and the invitation still stands', async () => {
    await expectHidden((ref, token) => call(`/orgs/${ref}/invitations/${acme.invitation.id}`, { method: 'DELETE', token }))
    expect((await acmeInvitations()).map((invitation) => invitation.id)).toContain(acme.invitation.id)
  })

  it('GET /orgs/{org}/roles', async () => {
    await expectHidden((ref, token) => call(`/orgs/${ref}/roles`, { token }))
  })

  it('POST /orgs/{org}/roles, and no role is defined', async () => {
    await expectHidden((ref, token) => postRole(ref, token, 'intruder', ['billing:read']))
    expect((await acmeRoles()).map((role) => role.name)).not.toContain('intruder')
  })

  it('PATCH /orgs/{org}/roles/{name}, and the role is unchanged', async () => {
    await expectHidden((ref, token) => call(`/orgs/${ref}/roles/billing`, { method: 'PATCH', token, json: { permissions: ['billing:*'] } }))
    expect((await acmeRoles()).find((role) => role.name === 'billing')?.permissions).toEqual(['billing:read'])
  })

  it('DELETE /orgs/{org}/roles/{name}, and the role is still there', async () => {
    await expectHidden((ref, token) => call(`/orgs/${ref}/roles/billing`, { method: 'DELETE', token }))
    expect((await acmeRoles()).map((role) => role.name)).toContain('billing')
  })

  it('POST /orgs/{org}/permissions/check, for oneself and for a member', async () => {
    await expectHidden((ref, token) => checkPermissions(ref, token, ['member:invite']))
    await expectHidden((ref, token) => checkPermissions(ref, token, ['billing:read'], acme.member.id))
  })

  it('GET /orgs/{org}/audit', async () => {
    await expectHidden((ref, token) => call(`/orgs/${ref}/audit`, { token }))
  })

  it('PUT /users/me/active-organization with the organization in the body', async () => {
    await expectHidden((ref, token) => setActiveOrg(token, ref))
  })
})

describe('one organization’s resources asked through another organization’s path', () => {
  it('PATCH /orgs/{other}/members/{user_id} of a member of this one: 404, and its roles are unchanged', async () => {
    await expectProblem(await setRoles(globex.org.id, globex.owner.token, acme.member.id, ['admin']), 404, 'not_found')
    await expectProblem(await setRoles(globex.org.slug, globex.owner.token, acme.owner.id, ['member']), 404, 'not_found')
    expect(await rolesOf(acme.org.id, acme.owner.token, acme.member.id)).toEqual(['billing', 'member'])
    expect((await listMembers(globex.org.id, globex.owner.token)).map((m) => m.user_id)).not.toContain(acme.member.id)
  })

  it('DELETE /orgs/{other}/members/{user_id} of a member of this one: 404, and it is still a member here', async () => {
    await expectProblem(await removeMember(globex.org.id, globex.owner.token, acme.member.id), 404, 'not_found')
    await expectProblem(await removeMember(globex.org.slug, globex.owner.token, acme.owner.id), 404, 'not_found')
    expect((await listMembers(acme.org.id, acme.owner.token)).map((m) => m.user_id)).toEqual(
      expect.arrayContaining([acme.owner.id, acme.member.id]),
    )
  })

  it('DELETE /orgs/{other}/invitations/{id} of this one’s invitation: 404, and the invitation still works', async () => {
    await expectProblem(
      await call(`/orgs/${globex.org.id}/invitations/${acme.invitation.id}`, { method: 'DELETE', token: globex.owner.token }),
      404,
      'not_found',
    )
    const listed = await call(`/orgs/${globex.org.id}/invitations`, { token: globex.owner.token })
    expect(listed.status).toBe(200)
    expect(((await listed.json()) as { invitations: Invitation[] }).invitations.map((i) => i.id)).not.toContain(acme.invitation.id)
    expect((await acmeInvitations()).map((invitation) => invitation.id)).toContain(acme.invitation.id)
  })

  it('PATCH and DELETE /orgs/{other}/roles/{name} of a role only this one defines: 404, and the role is unchanged', async () => {
    await expectProblem(
      await call(`/orgs/${globex.org.id}/roles/billing`, {
        method: 'PATCH',
        token: globex.owner.token,
        json: { permissions: ['billing:*'] },
      }),
      404,
      'not_found',
    )
    await expectProblem(
      await call(`/orgs/${globex.org.id}/roles/billing`, { method: 'DELETE', token: globex.owner.token }),
      404,
      'not_found',
    )
    expect((await acmeRoles()).find((role) => role.name === 'billing')?.permissions).toEqual(['billing:read'])
    const globexRoles = await call(`/orgs/${globex.org.id}/roles`, { token: globex.owner.token })
    expect(((await globexRoles.json()) as { roles: Role[] }).roles.map((role) => role.name)).not.toContain('billing')
  })

  it('refuses to give a member of the other organization a role only this one defines: 404, that organization has no such role', async () => {
    await expectProblem(await setRoles(globex.org.id, globex.owner.token, globex.member.id, ['billing']), 404, 'not_found')
    expect(await rolesOf(globex.org.id, globex.owner.token, globex.member.id)).toEqual(['member'])
  })

  it('POST /orgs/{other}/permissions/check about a member of this one: 404', async () => {
    await expectProblem(await checkPermissions(globex.org.id, globex.owner.token, ['billing:read'], acme.member.id), 404, 'not_found')
    await expectProblem(await checkPermissions(globex.org.id, globex.owner.token, ['member:invite'], acme.owner.id), 404, 'not_found')
  })

  it('GET /orgs/{other}/members and /audit show nothing of this one', async () => {
    const members = await listMembers(globex.org.id, globex.member.token)
    expect(members.map((m) => m.user_id).sort()).toEqual([globex.owner.id, globex.member.id].sort())
    const audit = await call(`/orgs/${globex.org.id}/audit?limit=100`, { token: globex.owner.token })
    expect(audit.status).toBe(200)
    const events = ((await audit.json()) as { events: { target_id: string | null; actor_id: string | null }[] }).events
    for (const event of events) {
      expect([acme.member.id, acme.owner.id]).not.toContain(event.actor_id)
      expect([acme.member.id, acme.owner.id]).not.toContain(event.target_id)
    }
  })

  it('an invitation of this organization, accepted, makes a member of this one only', async () => {
    // The invitation is still pending after every attempt above; it works for its invitee, here.
    const response = await accept(acme.invitee.tokens.access_token, acme.invitationToken)
    expect(response.status, await response.clone().text()).toBe(200)
    expect(((await response.json()) as { organization: Organization }).organization.id).toBe(acme.org.id)
    await expectProblem(await call(`/orgs/${globex.org.id}`, { token: acme.invitee.tokens.access_token }), 404, 'not_found')
  })
})
