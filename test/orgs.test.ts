import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  adminCall,
  asAdmin,
  call,
  claimsOf,
  expectProblem,
  failingFields,
  login,
  promoteToAdmin,
  refresh,
  signedIn,
  type TokenPair,
  verifiedSignedIn,
} from './helpers'
import {
  accept,
  addMember,
  BUILT_IN_PERMISSIONS,
  checked,
  checkPermissions,
  createOrg,
  defineRole,
  type Invitation,
  invitationFor,
  invite,
  listMembers,
  newSlug,
  type Organization,
  orgAudit,
  orgIdOf,
  orgWith,
  ownedOrg,
  ownersOf,
  postRole,
  type Role,
  removeMember,
  rolesOf,
  setActiveOrg,
  setRoles,
} from './org-helpers'

afterEach(() => {
  vi.useRealTimers()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const getOrg = (orgRef: string, token: string) => call(`/orgs/${orgRef}`, { token })
const patchOrg = (orgRef: string, token: string, json: object, env?: Record<string, unknown>) =>
  call(`/orgs/${orgRef}`, { method: 'PATCH', token, json, env })
const deleteOrg = (orgRef: string, token: string, env?: Record<string, unknown>) =>
  call(`/orgs/${orgRef}`, { method: 'DELETE', token, env })

async function myOrgs(token: string) {
  const response = await call('/orgs', { token })
  expect(response.status, await response.clone().text()).toBe(200)
  return ((await response.json()) as { organizations: (Organization & { roles: string[] })[] }).organizations
}

async function rolesDefined(orgRef: string, token: string): Promise<Role[]> {
  const response = await call(`/orgs/${orgRef}/roles`, { token })
  expect(response.status, await response.clone().text()).toBe(200)
  return ((await response.json()) as { roles: Role[] }).roles
}

async function json200<T>(response: Response): Promise<T> {
  expect(response.status, await response.clone().text()).toBe(200)
  return (await response.json()) as T
}

describe('creating an organization', () => {
  it('answers 201 with the organization and the caller as its owner, readable by id and by slug', async () => {
    const { tokens } = await signedIn()
    const slug = newSlug()
    const response = await call('/orgs', { token: tokens.access_token, json: { slug, name: 'Acme Rockets' } })
    expect(response.status, await response.clone().text()).toBe(201)
    const body = (await response.json()) as { organization: Organization; membership: { roles: string[] } }
    expect(body.organization).toEqual({ id: expect.any(String), slug, name: 'Acme Rockets', created_at: expect.any(String) })
    expect(body.organization.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    expect(new Date(body.organization.created_at).toISOString()).toBe(body.organization.created_at)
    expect(body.membership.roles).toEqual(['owner'])

    for (const ref of [body.organization.id, slug]) {
      const read = await getOrg(ref, tokens.access_token)
      expect(read.status, await read.clone().text()).toBe(200)
      expect(((await read.json()) as { organization: Organization }).organization).toMatchObject(body.organization)
    }
    const members = await listMembers(slug, tokens.access_token)
    expect(members).toEqual([expect.objectContaining({ user_id: claimsOf(tokens.access_token).sub, roles: ['owner'] })])
  })

  it('lower-cases a slug given in capitals, and refuses the same slug in any case as slug_taken', async () => {
    const { token } = await ownedOrg()
    const slug = newSlug('Team-XYZ')
    const org = await createOrg(token, { slug })
    expect(org.slug).toBe(slug.toLowerCase())
    expect((await getOrg(slug.toLowerCase(), token)).status).toBe(200)

    const someoneElse = await signedIn()
    for (const taken of [slug, slug.toLowerCase(), slug.toUpperCase()])
      await expectProblem(
        await call('/orgs', { token: someoneElse.tokens.access_token, json: { slug: taken, name: 'Copycat' } }),
        409,
        'slug_taken',
      )
    expect(await myOrgs(someoneElse.tokens.access_token)).toEqual([])
  })

  it('accepts slugs of 3 to 48 characters of a–z, 0–9 and -, and refuses anything else naming the field', async () => {
    const { tokens } = await signedIn()
    const token = tokens.access_token
    const tag = crypto.randomUUID().replace(/-/g, '')
    expect((await createOrg(token, { slug: tag.slice(0, 3) })).slug).toBe(tag.slice(0, 3))
    const longest = `${tag}-${tag}`.slice(0, 48)
    expect((await createOrg(token, { slug: longest })).slug).toBe(longest)

    const refused = ['ab', `${tag}${tag}`.slice(0, 49), 'has space', 'under_score', 'dot.ted', 'émile-zola', '', 42]
    for (const slug of refused)
      expect(await failingFields(await call('/orgs', { token, json: { slug, name: 'Name' } })), JSON.stringify(slug)).toEqual(['slug'])
    expect(await failingFields(await call('/orgs', { token, json: { slug: newSlug() } }))).toEqual(['name'])
    expect(await failingFields(await call('/orgs', { token, json: { name: 'No slug' } }))).toEqual(['slug'])
  })

  it('spends the account’s PROFILE_CHANGES_PER_HOUR budget: 429 past it', async () => {
    const { tokens } = await signedIn()
    const env = { PROFILE_CHANGES_PER_HOUR: '2' }
    for (let i = 0; i < 2; i++)
      expect((await call('/orgs', { token: tokens.access_token, json: { slug: newSlug(), name: 'Budgeted' }, env })).status).toBe(201)
    const refused = await call('/orgs', { token: tokens.access_token, json: { slug: newSlug(), name: 'One too many' }, env })
    await expectProblem(refused, 429, 'rate_limited')
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThan(0)
    expect(await myOrgs(tokens.access_token)).toHaveLength(2)
  })

  it('answers 401 without an access token on every organization route', async () => {
    const { org } = await ownedOrg()
    const routes: [string, string, unknown?][] = [
      ['POST', '/orgs', { slug: newSlug(), name: 'x' }],
      ['GET', '/orgs'],
      ['GET', `/orgs/${org.id}`],
      ['PATCH', `/orgs/${org.id}`, { name: 'x' }],
      ['DELETE', `/orgs/${org.id}`],
      ['GET', `/orgs/${org.id}/members`],
      ['GET', `/orgs/${org.id}/roles`],
      ['POST', `/orgs/${org.id}/permissions/check`, { permissions: ['member:invite'] }],
      ['GET', `/orgs/${org.id}/audit`],
      ['POST', '/invitations/accept', { token: 'x'.repeat(43) }],
      ['PUT', '/users/me/active-organization', { org: org.id }],
    ]
    for (const [method, path, json] of routes) await expectProblem(await call(path, { method, json }), 401, 'unauthorized')
  })
})

describe('listing one’s organizations', () => {
  it('lists exactly the caller’s organizations, each with the caller’s roles in it', async () => {
    const { org: mine, token } = await ownedOrg()
    const other = await ownedOrg()
    const person = await addMember(other.org.id, other.token, ['admin'])
    const theirs = await createOrg(person.token)
    await ownedOrg() // someone else's, that neither sees

    const listed = await myOrgs(person.token)
    expect(listed.map((org) => org.id).sort()).toEqual([other.org.id, theirs.id].sort())
    expect(listed.find((org) => org.id === other.org.id)).toMatchObject({ slug: other.org.slug, name: other.org.name, roles: ['admin'] })
    expect(listed.find((org) => org.id === theirs.id)).toMatchObject({ roles: ['owner'] })
    expect((await myOrgs(token)).map((org) => org.id)).toEqual([mine.id])
  })
})

describe('updating and deleting an organization', () => {
  it('lets organization:update change the name and the slug; the old slug is then unknown', async () => {
    const { org, members } = await orgWith(['admin'])
    const [admin] = members
    const slug = newSlug()
    const response = await patchOrg(org.slug, admin!.token, { name: 'Renamed', slug })
    expect(response.status, await response.clone().text()).toBe(200)
    expect(((await response.json()) as { organization: Organization }).organization).toMatchObject({ id: org.id, slug, name: 'Renamed' })
    await expectProblem(await getOrg(org.slug, admin!.token), 404, 'not_found')
    expect(((await (await getOrg(slug, admin!.token)).json()) as { organization: Organization }).organization.name).toBe('Renamed')
  })

  it('refuses a slug another organization has as slug_taken, and a malformed one naming the field', async () => {
    const { org, token } = await ownedOrg()
    const taken = await ownedOrg()
    await expectProblem(await patchOrg(org.id, token, { slug: taken.org.slug.toUpperCase() }), 409, 'slug_taken')
    expect(await failingFields(await patchOrg(org.id, token, { slug: 'No Spaces' }))).toEqual(['slug'])
    expect(((await (await getOrg(org.id, token)).json()) as { organization: Organization }).organization.slug).toBe(org.slug)
  })

  it('refuses a member without organization:update with 403 forbidden and changes nothing', async () => {
    const { org, token, members } = await orgWith(['member'])
    await expectProblem(await patchOrg(org.id, members[0]!.token, { name: 'Hijacked' }), 403, 'forbidden')
    expect(((await (await getOrg(org.id, token)).json()) as { organization: Organization }).organization.name).toBe(org.name)
  })

  it('lets only organization:delete delete: an admin is refused, the owner deletes, and members, roles and invitations go with it', async () => {
    const { org, token, members } = await orgWith(['admin'], ['member'])
    const [admin, member] = members
    await defineRole(org.id, token, 'billing', ['billing:read'])
    const invited = await verifiedSignedIn()
    const pending = await invitationFor(org.id, token, invited.account.email)

    await expectProblem(await deleteOrg(org.id, admin!.token), 403, 'forbidden')
    await expectProblem(await deleteOrg(org.id, member!.token), 403, 'forbidden')
    expect((await getOrg(org.id, token)).status).toBe(200)

    const deleted = await deleteOrg(org.slug, token)
    expect(deleted.status, await deleted.clone().text()).toBe(204)
    for (const who of [token, admin!.token, member!.token]) {
      await expectProblem(await getOrg(org.id, who), 404, 'not_found')
      await expectProblem(await call(`/orgs/${org.id}/members`, { token: who }), 404, 'not_found')
      await expectProblem(await call(`/orgs/${org.id}/roles`, { token: who }), 404, 'not_found')
      expect(await myOrgs(who)).toEqual([])
    }
    // Its pending invitation died with it.
    await expectProblem(await accept(invited.tokens.access_token, pending.token), 400, 'invalid_token')
    expect(await myOrgs(invited.tokens.access_token)).toEqual([])
  })

  it('asks for a recent proof to update or delete (403 reauthentication_required), and a re-authentication unlocks both', async () => {
    const { org, owner, token } = await ownedOrg()
    await sleep(1100)
    const env = { REAUTH_MAX_AGE_SECONDS: '1' }
    await expectProblem(await patchOrg(org.id, token, { name: 'Stale' }, env), 403, 'reauthentication_required')
    await expectProblem(await deleteOrg(org.id, token, env), 403, 'reauthentication_required')
    expect(((await (await getOrg(org.id, token)).json()) as { organization: Organization }).organization.name).toBe(org.name)

    const proved = await call('/users/me/reauthenticate', { token, json: { password: owner.account.password }, env })
    expect(proved.status, await proved.clone().text()).toBe(200)
    expect((await patchOrg(org.id, token, { name: 'Fresh' }, env)).status).toBe(200)
    expect((await deleteOrg(org.id, token, env)).status).toBe(204)
  })
})

describe('members', () => {
  it('lists every member with user_id, username, email, roles and joined_at, page by page', async () => {
    const { org, owner, token, members } = await orgWith(['admin'], ['member'], ['member', 'admin'])
    const all = await listMembers(org.id, token, 2)
    expect(all).toHaveLength(4)
    expect(new Set(all.map((member) => member.user_id)).size).toBe(4)
    const expected = [owner, ...members].map((person) => person.user.id).sort()
    expect(all.map((member) => member.user_id).sort()).toEqual(expected)
    const one = all.find((member) => member.user_id === members[0]!.user.id)!
    expect(one).toEqual({
      user_id: members[0]!.user.id,
      username: members[0]!.account.username,
      email: members[0]!.account.email,
      roles: ['admin'],
      joined_at: expect.any(String),
    })
    expect(new Date(one.joined_at).toISOString()).toBe(one.joined_at)
    expect(await rolesOf(org.id, token, members[2]!.user.id)).toEqual(['admin', 'member'])
    // Any member reads the list.
    expect(await listMembers(org.id, members[1]!.token)).toHaveLength(4)
  })

  it('lets member:update set a member’s roles, which count on that member’s next request', async () => {
    const { org, token, members } = await orgWith(['admin'], ['member'])
    const [admin, member] = members
    await expectProblem(await call(`/orgs/${org.id}/invitations`, { token: member!.token }), 403, 'forbidden')
    const response = await setRoles(org.id, admin!.token, member!.user.id, ['member', 'admin'])
    expect(response.status, await response.clone().text()).toBe(200)
    expect(await rolesOf(org.id, token, member!.user.id)).toEqual(['admin', 'member'])
    // The same access token, now with admin's permissions.
    expect((await call(`/orgs/${org.id}/invitations`, { token: member!.token })).status).toBe(200)
  })

  it('takes a demotion into account on the next request, whatever the access token says', async () => {
    const { org, token, members } = await orgWith(['admin'])
    const [admin] = members
    expect((await patchOrg(org.id, admin!.token, { name: 'Before' })).status).toBe(200)
    expect((await setRoles(org.id, token, admin!.user.id, ['member'])).status).toBe(200)
    await expectProblem(await patchOrg(org.id, admin!.token, { name: 'After' }), 403, 'forbidden')
    expect(await checked(org.id, admin!.token, ['organization:update'])).toEqual({ allowed: false, missing: ['organization:update'] })
  })

  it('refuses a member without member:update or member:remove with 403 forbidden', async () => {
    const { org, token, members } = await orgWith(['member'], ['member'])
    const [member, other] = members
    await expectProblem(await setRoles(org.id, member!.token, other!.user.id, ['admin']), 403, 'forbidden')
    await expectProblem(await setRoles(org.id, member!.token, member!.user.id, ['admin']), 403, 'forbidden')
    await expectProblem(await removeMember(org.id, member!.token, other!.user.id), 403, 'forbidden')
    expect(await rolesOf(org.id, token, other!.user.id)).toEqual(['member'])
    expect(await rolesOf(org.id, token, member!.user.id)).toEqual(['member'])
  })

  it('refuses an empty role list with validation_failed, and a role the organization does not have with 404', async () => {
    const { org, token, members } = await orgWith(['member'])
    const [member] = members
    expect(await failingFields(await setRoles(org.id, token, member!.user.id, []))).toEqual(['roles'])
    await expectProblem(await setRoles(org.id, token, member!.user.id, ['no_such_role']), 404, 'not_found')
    await expectProblem(
      await call(`/orgs/${org.id}/members/${member!.user.id}`, { method: 'PATCH', token, json: {} }),
      400,
      'validation_failed',
    )
    expect(await rolesOf(org.id, token, member!.user.id)).toEqual(['member'])
  })

  it('lets only an owner grant, change or take away owner: an admin is refused with 403 forbidden', async () => {
    const { org, owner, token, members } = await orgWith(['admin'], ['member'])
    const [admin, member] = members
    await expectProblem(await setRoles(org.id, admin!.token, member!.user.id, ['owner']), 403, 'forbidden')
    await expectProblem(await setRoles(org.id, admin!.token, admin!.user.id, ['admin', 'owner']), 403, 'forbidden')
    await expectProblem(await setRoles(org.id, admin!.token, owner.user.id, ['member']), 403, 'forbidden')
    await expectProblem(await removeMember(org.id, admin!.token, owner.user.id), 403, 'forbidden')
    await expectProblem(await invite(org.id, admin!.token, (await verifiedSignedIn()).account.email, ['owner']), 403, 'forbidden')
    expect(await ownersOf(org.id, token)).toEqual([owner.user.id])

    expect((await setRoles(org.id, token, member!.user.id, ['owner'])).status).toBe(200)
    expect((await ownersOf(org.id, token)).sort()).toEqual([owner.user.id, member!.user.id].sort())
  })

  it('lets member:remove remove a member, and any member leave by itself; either way its old token gets 404 at once', async () => {
    const { org, token, members } = await orgWith(['admin'], ['member'], ['member'])
    const [admin, removed, leaving] = members
    expect((await removeMember(org.id, admin!.token, removed!.user.id)).status).toBe(204)
    const left = await removeMember(org.slug, leaving!.token, leaving!.user.id)
    expect(left.status, await left.clone().text()).toBe(204)

    for (const gone of [removed!, leaving!]) {
      await expectProblem(await getOrg(org.id, gone.token), 404, 'not_found')
      await expectProblem(await call(`/orgs/${org.id}/members`, { token: gone.token }), 404, 'not_found')
      await expectProblem(await checkPermissions(org.id, gone.token, ['member:invite']), 404, 'not_found')
      await expectProblem(await call(`/orgs/${org.id}/roles`, { token: gone.token }), 404, 'not_found')
      expect(await myOrgs(gone.token)).toEqual([])
    }
    expect((await listMembers(org.id, token)).map((member) => member.user_id).sort()).toEqual(
      [claimsOf(token).sub as string, admin!.user.id].sort(),
    )
  })

  it('takes a removed admin’s permissions away on its next request', async () => {
    const { org, token, members } = await orgWith(['admin'], ['member'])
    const [admin, member] = members
    expect((await removeMember(org.id, token, admin!.user.id)).status).toBe(204)
    await expectProblem(await removeMember(org.id, admin!.token, member!.user.id), 404, 'not_found')
    await expectProblem(await patchOrg(org.id, admin!.token, { name: 'Revenge' }), 404, 'not_found')
    expect(await rolesOf(org.id, token, member!.user.id)).toEqual(['member'])
  })
})

describe('the last owner', () => {
  it('cannot leave, be removed or lose owner: 409 last_owner', async () => {
    const { org, owner, token } = await orgWith(['admin'])
    await expectProblem(await removeMember(org.id, token, owner.user.id), 409, 'last_owner')
    await expectProblem(await setRoles(org.id, token, owner.user.id, ['admin']), 409, 'last_owner')
    await expectProblem(await setRoles(org.id, token, owner.user.id, ['member']), 409, 'last_owner')
    expect(await ownersOf(org.id, token)).toEqual([owner.user.id])
    // Adding roles beside owner is no loss of owner.
    expect((await setRoles(org.id, token, owner.user.id, ['owner', 'admin'])).status).toBe(200)
  })

  it('may step down once there is another owner, and the other one is then the last', async () => {
    const { org, owner, token, members } = await orgWith(['owner'])
    const [second] = members
    expect((await setRoles(org.id, token, owner.user.id, ['admin'])).status).toBe(200)
    expect(await ownersOf(org.id, second!.token)).toEqual([second!.user.id])
    await expectProblem(await removeMember(org.id, second!.token, second!.user.id), 409, 'last_owner')
    await expectProblem(await setRoles(org.id, second!.token, second!.user.id, ['member']), 409, 'last_owner')
    expect((await removeMember(org.id, second!.token, owner.user.id)).status).toBe(204)
    expect(await ownersOf(org.id, second!.token)).toEqual([second!.user.id])
  })

  it('survives two owners leaving at the same moment: one leaves, one owner is left', async () => {
    for (let round = 0; round < 3; round++) {
      const { org, owner, token, members } = await orgWith(['owner'], ['member'])
      const [second, watcher] = members
      const responses = await Promise.all([
        removeMember(org.id, token, owner.user.id),
        removeMember(org.id, second!.token, second!.user.id),
      ])
      expect(responses.map((response) => response.status).sort(), `round ${round}`).toEqual([204, 409])
      expect(await ownersOf(org.id, watcher!.token), `round ${round}`).toHaveLength(1)
    }
  })

  it('survives ten simultaneous removals and demotions among three owners: at least one owner is left', async () => {
    for (let round = 0; round < 3; round++) {
      const { org, owner, members } = await orgWith(['owner'], ['owner'], ['member'])
      type Owner = { token: string; id: string }
      const [a, b, c]: Owner[] = [owner, ...members.slice(0, 2)].map((person) => ({
        token: person.tokens.access_token,
        id: person.user.id,
      }))
      const watcher = members[2]!
      const demote = (by: Owner | undefined, target: Owner | undefined) => setRoles(org.id, by!.token, target!.id, ['member'])
      const remove = (by: Owner | undefined, target: Owner | undefined) => removeMember(org.id, by!.token, target!.id)
      const responses = await Promise.all([
        remove(a, b),
        remove(b, c),
        remove(c, a),
        remove(a, a),
        remove(b, b),
        remove(c, c),
        demote(a, c),
        demote(b, a),
        demote(c, b),
        demote(a, b),
      ])
      // A request may win (200/204), meet the guard (409), or find its caller demoted (403) or
      // already gone (404); nothing else, and never all of them.
      for (const response of responses) expect([200, 204, 403, 404, 409], await response.clone().text()).toContain(response.status)
      expect(responses.some((response) => response.status === 409 || response.status === 403 || response.status === 404)).toBe(true)
      const owners = await ownersOf(org.id, watcher.token)
      expect(owners.length, `round ${round}`).toBeGreaterThanOrEqual(1)
      // Whoever is left as owner still acts as one.
      const left = [a, b, c].find((who) => who?.id === owners[0])!
      expect((await checked(org.id, left.token, ['organization:delete'])).allowed).toBe(true)
    }
  })
})

describe('invitations', () => {
  it('mails a link to {APP_URL}/accept-invitation, and accepting it makes the verified invitee a member with the roles offered', async () => {
    const { org, token } = await ownedOrg()
    await defineRole(org.id, token, 'support', ['ticket:read'])
    const person = await verifiedSignedIn()
    const before = Date.now()
    const {
      invitation,
      mail,
      link,
      token: invitationToken,
    } = await invitationFor(org.id, token, person.account.email, ['member', 'support'])
    expect(invitation).toEqual({
      id: expect.any(String),
      email: person.account.email,
      roles: expect.arrayContaining(['member', 'support']),
      expires_at: expect.any(String),
    })
    const expiresIn = Date.parse(invitation.expires_at) - before
    expect(expiresIn).toBeGreaterThan(604_800_000 - 60_000)
    expect(expiresIn).toBeLessThanOrEqual(604_800_000 + 60_000)
    expect(mail?.to).toBe(person.account.email)
    expect(link).toBe(`http://localhost:8787/accept-invitation#token=${invitationToken}`)
    expect(invitationToken.length).toBeGreaterThanOrEqual(22)

    const response = await accept(person.tokens.access_token, invitationToken)
    expect(response.status, await response.clone().text()).toBe(200)
    const body = (await response.json()) as { organization: Organization; membership: { roles: string[] } }
    expect(body.organization).toMatchObject({ id: org.id, slug: org.slug, name: org.name })
    expect([...body.membership.roles].sort()).toEqual(['member', 'support'])
    expect(await rolesOf(org.id, token, person.user.id)).toEqual(['member', 'support'])
    expect((await myOrgs(person.tokens.access_token)).map((o) => o.id)).toEqual([org.id])
  })

  it('accepts an invitation once: the same token again is invalid_token', async () => {
    const { org, token } = await ownedOrg()
    const person = await verifiedSignedIn()
    const { token: invitationToken } = await invitationFor(org.id, token, person.account.email)
    expect((await accept(person.tokens.access_token, invitationToken)).status).toBe(200)
    await expectProblem(await accept(person.tokens.access_token, invitationToken), 400, 'invalid_token')
    await expectProblem(await accept(person.tokens.access_token, `${invitationToken.slice(0, -2)}AA`), 400, 'invalid_token')
    await expectProblem(await accept(person.tokens.access_token, 'x'.repeat(43)), 400, 'invalid_token')
  })

  it('refuses another account, and the invited address while unverified, with invitation_email_mismatch; the invitation still works', async () => {
    const { org, token } = await ownedOrg()
    const person = await verifiedSignedIn()
    const { token: invitationToken } = await invitationFor(org.id, token, person.account.email)

    const stranger = await verifiedSignedIn()
    await expectProblem(await accept(stranger.tokens.access_token, invitationToken), 403, 'invitation_email_mismatch')
    expect(await myOrgs(stranger.tokens.access_token)).toEqual([])

    const unverified = await signedIn()
    const second = await invitationFor(org.id, token, unverified.account.email)
    await expectProblem(await accept(unverified.tokens.access_token, second.token), 403, 'invitation_email_mismatch')
    expect(await myOrgs(unverified.tokens.access_token)).toEqual([])

    expect((await accept(person.tokens.access_token, invitationToken)).status).toBe(200)
  })

  it('lists pending invitations to member:invite, and a revoked one can no longer be accepted', async () => {
    const { org, token, members } = await orgWith(['admin'], ['member'])
    const [admin, member] = members
    const person = await verifiedSignedIn()
    const { invitation, token: invitationToken } = await invitationFor(org.id, admin!.token, person.account.email, ['member'])

    await expectProblem(await call(`/orgs/${org.id}/invitations`, { token: member!.token }), 403, 'forbidden')
    const listed = await call(`/orgs/${org.id}/invitations`, { token })
    expect(listed.status, await listed.clone().text()).toBe(200)
    expect(((await listed.json()) as { invitations: Invitation[] }).invitations).toEqual([
      expect.objectContaining({ id: invitation.id, email: person.account.email, roles: ['member'] }),
    ])

    await expectProblem(
      await call(`/orgs/${org.id}/invitations/${invitation.id}`, { method: 'DELETE', token: member!.token }),
      403,
      'forbidden',
    )
    const revoked = await call(`/orgs/${org.id}/invitations/${invitation.id}`, { method: 'DELETE', token: admin!.token })
    expect(revoked.status, await revoked.clone().text()).toBe(204)
    await expectProblem(await accept(person.tokens.access_token, invitationToken), 400, 'invalid_token')
    expect(((await (await call(`/orgs/${org.id}/invitations`, { token })).json()) as { invitations: Invitation[] }).invitations).toEqual([])
    await expectProblem(await call(`/orgs/${org.id}/invitations/${invitation.id}`, { method: 'DELETE', token }), 404, 'not_found')
  })

  it('refuses an invitation after INVITATION_TTL_SECONDS with invalid_token', async () => {
    const { org, token } = await ownedOrg()
    const person = await verifiedSignedIn()
    const { token: invitationToken } = await invitationFor(org.id, token, person.account.email)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 604_800_000 + 1_000)
    const later = await login(person.account)
    await expectProblem(await accept(later.access_token, invitationToken), 400, 'invalid_token')
    expect(await myOrgs(later.access_token)).toEqual([])
  })

  it('needs member:invite (403 forbidden for a plain member) and refuses an existing member’s address with already_member', async () => {
    const { org, owner, token, members } = await orgWith(['member'])
    const [member] = members
    await expectProblem(await invite(org.id, member!.token, (await verifiedSignedIn()).account.email, ['member']), 403, 'forbidden')
    await expectProblem(await invite(org.id, token, member!.account.email, ['member']), 409, 'already_member')
    await expectProblem(await invite(org.id, token, owner.account.email.toUpperCase(), ['member']), 409, 'already_member')
    expect(await failingFields(await invite(org.id, token, 'not-an-address', ['member']))).toEqual(['email'])
  })

  it('lets an owner invite an owner, who then counts as one', async () => {
    const { org, owner, token } = await ownedOrg()
    const second = await addMember(org.id, token, ['owner'])
    expect((await ownersOf(org.id, token)).sort()).toEqual([owner.user.id, second.user.id].sort())
    expect((await setRoles(org.id, second.token, owner.user.id, ['member'])).status).toBe(200)
  })
})

describe('roles and permissions', () => {
  it('lists the built-in roles with the contract’s permissions to any member', async () => {
    const { org, members } = await orgWith(['member'])
    const roles = await rolesDefined(org.id, members[0]!.token)
    const byName = new Map(roles.map((role) => [role.name, [...role.permissions].sort()]))
    expect(byName.get('owner')).toEqual([...BUILT_IN_PERMISSIONS].sort())
    expect(byName.get('admin')).toEqual(BUILT_IN_PERMISSIONS.filter((p) => p !== 'organization:delete').sort())
    expect(byName.get('member')).toEqual([])
  })

  it('answers a permission check from the built-in roles: owner everything, admin all but organization:delete, member nothing', async () => {
    const { org, token, members } = await orgWith(['admin'], ['member'])
    const all = [...BUILT_IN_PERMISSIONS]
    expect(await checked(org.id, token, all)).toEqual({ allowed: true, missing: [] })
    expect(await checked(org.id, members[0]!.token, all)).toEqual({ allowed: false, missing: ['organization:delete'] })
    expect(await checked(org.id, members[1]!.token, all)).toEqual({ allowed: false, missing: [...all].sort() })
    expect(await checked(org.id, members[1]!.token, [])).toEqual({ allowed: true, missing: [] })
  })

  it('gives a member the union of its roles’ permissions', async () => {
    const { org, token, members } = await orgWith(['member'])
    const [member] = members
    await defineRole(org.id, token, 'billing_reader', ['billing:read', 'invoice:read'])
    await defineRole(org.id, token, 'ticket_agent', ['ticket:write', 'invoice:read'])
    expect((await setRoles(org.id, token, member!.user.id, ['member', 'billing_reader', 'ticket_agent'])).status).toBe(200)

    expect(await checked(org.id, member!.token, ['billing:read', 'ticket:write', 'invoice:read'])).toEqual({ allowed: true, missing: [] })
    expect(await checked(org.id, member!.token, ['billing:read', 'member:invite', 'billing:write'])).toEqual({
      allowed: false,
      missing: ['billing:write', 'member:invite'],
    })
    expect((await setRoles(org.id, token, member!.user.id, ['ticket_agent', 'admin'])).status).toBe(200)
    expect(await checked(org.id, member!.token, ['ticket:write', 'member:invite', 'billing:read'])).toEqual({
      allowed: false,
      missing: ['billing:read'],
    })
  })

  it('lets resource:* cover every action of that resource and nothing else', async () => {
    const { org, token, members } = await orgWith(['member'])
    const [member] = members
    await defineRole(org.id, token, 'billing_admin', ['billing:*', 'member:*'])
    expect((await setRoles(org.id, token, member!.user.id, ['billing_admin'])).status).toBe(200)
    expect(await checked(org.id, member!.token, ['billing:read', 'billing:refund', 'member:invite', 'member:remove'])).toEqual({
      allowed: true,
      missing: [],
    })
    expect(await checked(org.id, member!.token, ['invoice:read', 'billing:read', 'role:manage'])).toEqual({
      allowed: false,
      missing: ['invoice:read', 'role:manage'],
    })
    // member:* grants the built-in member:invite too: the route honours it.
    expect((await invite(org.id, member!.token, (await verifiedSignedIn()).account.email, ['member'])).status).toBe(201)
  })

  it('lets role:manage define a role (201), lists it, and refuses a name taken with role_exists', async () => {
    const { org, token, members } = await orgWith(['admin'], ['member'])
    const [admin, member] = members
    await expectProblem(await postRole(org.id, member!.token, 'nope', ['billing:read']), 403, 'forbidden')
    const created = await postRole(org.id, admin!.token, 'auditor', ['audit:read', 'billing:read'])
    expect(created.status, await created.clone().text()).toBe(201)
    const roles = await rolesDefined(org.id, member!.token)
    expect(
      roles
        .find((role) => role.name === 'auditor')
        ?.permissions.slice()
        .sort(),
    ).toEqual(['audit:read', 'billing:read'])
    expect(roles.map((role) => role.name)).not.toContain('nope')
    await expectProblem(await postRole(org.id, token, 'auditor', ['ticket:read']), 409, 'role_exists')
  })

  it('refuses a built-in role’s name with validation_failed naming the field', async () => {
    const { org, token } = await ownedOrg()
    for (const name of ['owner', 'admin', 'member'])
      expect(await failingFields(await postRole(org.id, token, name, ['billing:read']))).toEqual(['name'])
  })

  it('refuses to redefine or delete a built-in role with validation_failed', async () => {
    const { org, token } = await ownedOrg()
    await expectProblem(
      await call(`/orgs/${org.id}/roles/member`, { method: 'PATCH', token, json: { permissions: ['organization:delete'] } }),
      400,
      'validation_failed',
    )
    await expectProblem(await call(`/orgs/${org.id}/roles/owner`, { method: 'DELETE', token }), 400, 'validation_failed')
    const byName = new Map((await rolesDefined(org.id, token)).map((role) => [role.name, role.permissions]))
    expect(byName.get('member')).toEqual([])
    expect(byName.has('owner')).toBe(true)
  })

  it('refuses each malformed permission with validation_failed naming permissions.N', async () => {
    const { org, token } = await ownedOrg()
    const permissions = [
      'billing:read',
      'Billing:read',
      'billing',
      '*:read',
      'billing:read:all',
      'bill-ing:read',
      '9lives:read',
      'billing:*',
    ]
    expect(await failingFields(await postRole(org.id, token, 'mixed', permissions))).toEqual(
      ['permissions.1', 'permissions.2', 'permissions.3', 'permissions.4', 'permissions.5', 'permissions.6'].sort(),
    )
    expect(await failingFields(await checkPermissions(org.id, token, ['ok:read', 'NOT OK']))).toEqual(['permissions.1'])
    // The edges of the grammar are accepted.
    expect((await postRole(org.id, token, 'edges', ['a:b', 'x_1:y_2', 'billing:*'])).status).toBe(201)
  })

  it('takes a changed role into account on the next check of every member holding it', async () => {
    const { org, token, members } = await orgWith(['member'])
    const [member] = members
    await defineRole(org.id, token, 'billing', ['billing:read'])
    expect((await setRoles(org.id, token, member!.user.id, ['billing'])).status).toBe(200)
    expect((await checked(org.id, member!.token, ['billing:refund'])).allowed).toBe(false)
    const changed = await call(`/orgs/${org.id}/roles/billing`, { method: 'PATCH', token, json: { permissions: ['billing:refund'] } })
    expect(changed.status, await changed.clone().text()).toBe(200)
    expect(await checked(org.id, member!.token, ['billing:refund', 'billing:read'])).toEqual({ allowed: false, missing: ['billing:read'] })
  })

  it('refuses to delete a role a member holds with role_in_use, and deletes it once nobody does', async () => {
    const { org, token, members } = await orgWith(['member'])
    const [member] = members
    await defineRole(org.id, token, 'support', ['ticket:read'])
    expect((await setRoles(org.id, token, member!.user.id, ['member', 'support'])).status).toBe(200)
    await expectProblem(await call(`/orgs/${org.id}/roles/support`, { method: 'DELETE', token: member!.token }), 403, 'forbidden')
    await expectProblem(await call(`/orgs/${org.id}/roles/support`, { method: 'DELETE', token }), 409, 'role_in_use')
    expect((await checked(org.id, member!.token, ['ticket:read'])).allowed).toBe(true)

    expect((await setRoles(org.id, token, member!.user.id, ['member'])).status).toBe(200)
    const deleted = await call(`/orgs/${org.id}/roles/support`, { method: 'DELETE', token })
    expect(deleted.status, await deleted.clone().text()).toBe(204)
    expect((await rolesDefined(org.id, token)).map((role) => role.name)).not.toContain('support')
    await expectProblem(await call(`/orgs/${org.id}/roles/support`, { method: 'DELETE', token }), 404, 'not_found')
  })

  it('checks another member’s permissions only with member:update, and one’s own always', async () => {
    const { org, members } = await orgWith(['admin'], ['member'], ['member'])
    const [admin, member, other] = members
    expect(await checked(org.id, admin!.token, ['member:invite', 'organization:update'], member!.user.id)).toEqual({
      allowed: false,
      missing: ['member:invite', 'organization:update'],
    })
    expect(await checked(org.id, admin!.token, ['member:invite'], admin!.user.id)).toEqual({ allowed: true, missing: [] })
    await expectProblem(await checkPermissions(org.id, member!.token, ['member:invite'], other!.user.id), 403, 'forbidden')
    await expectProblem(await checkPermissions(org.id, member!.token, ['organization:delete'], admin!.user.id), 403, 'forbidden')
    expect(await checked(org.id, member!.token, ['member:invite'], member!.user.id)).toEqual({ allowed: false, missing: ['member:invite'] })
  })
})

describe('the organization’s audit log', () => {
  it('records every organization event with its org_id, and shows an organization only its own', async () => {
    const { org, owner, token, members } = await orgWith(['admin'])
    const [admin] = members
    const elsewhere = await createOrg(token) // the same owner's other organization
    const person = await verifiedSignedIn()
    const { token: invitationToken } = await invitationFor(org.id, token, person.account.email)
    expect((await accept(person.tokens.access_token, invitationToken)).status).toBe(200)
    await defineRole(org.id, admin!.token, 'billing', ['billing:read'])
    expect((await setRoles(org.id, token, person.user.id, ['billing'])).status).toBe(200)
    expect((await removeMember(org.id, admin!.token, person.user.id)).status).toBe(204)

    const { events } = await orgAudit(org.id, token, 'limit=100')
    const actions = events.map((event) => event.action)
    for (const action of [
      'org.created',
      'org.invitation_sent',
      'org.invitation_accepted',
      'org.member_added',
      'org.role_defined',
      'org.roles_changed',
      'org.member_removed',
    ])
      expect(actions, action).toContain(action)
    for (const event of events) expect(orgIdOf(event), event.action).toBe(org.id)
    expect(events.find((event) => event.action === 'org.created')?.actor_id).toBe(owner.user.id)
    expect(events.find((event) => event.action === 'org.member_removed')).toMatchObject({
      actor_id: admin!.user.id,
      target_id: person.user.id,
    })

    const other = await orgAudit(elsewhere.id, token)
    expect(other.events.map((event) => event.action)).toEqual(['org.created'])
    expect(orgIdOf(other.events[0]!)).toBe(elsewhere.id)
  })

  it('filters by action and pages with limit and cursor', async () => {
    const { org, token, members } = await orgWith(['member'], ['member'])
    for (const member of members) expect((await setRoles(org.id, token, member.user.id, ['admin'])).status).toBe(200)
    const changed = await orgAudit(org.id, token, 'action=org.roles_changed')
    expect(changed.events).toHaveLength(2)
    expect(new Set(changed.events.map((event) => event.action))).toEqual(new Set(['org.roles_changed']))

    const seen: string[] = []
    let cursor: string | null = null
    for (let pages = 0; pages < 50; pages++) {
      const page = await orgAudit(org.id, token, `limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      expect(page.events.length).toBeLessThanOrEqual(2)
      seen.push(...page.events.map((event) => event.id))
      if (!page.next_cursor) break
      cursor = page.next_cursor
    }
    const all = await orgAudit(org.id, token, 'limit=100')
    expect(seen).toEqual(all.events.map((event) => event.id))
    expect(new Set(seen).size).toBe(seen.length)
  })

  it('needs audit:read: a plain member gets 403 forbidden, an admin reads it', async () => {
    const { org, members } = await orgWith(['member'], ['admin'])
    await expectProblem(await call(`/orgs/${org.id}/audit`, { token: members[0]!.token }), 403, 'forbidden')
    expect((await orgAudit(org.id, members[1]!.token)).events.length).toBeGreaterThan(0)
  })

  it('shows organization events in the site-wide admin audit too, org.deleted included', async () => {
    const { org, token } = await ownedOrg()
    expect((await deleteOrg(org.id, token)).status).toBe(204)
    const siteAdmin = await asAdmin()
    for (const action of ['org.created', 'org.deleted']) {
      const response = await adminCall(siteAdmin.token, `/audit?action=${action}&limit=100`)
      expect(response.status, await response.clone().text()).toBe(200)
      const { events } = (await response.json()) as { events: Parameters<typeof orgIdOf>[0][] }
      expect(
        events.filter((event) => orgIdOf(event) === org.id).map((event) => event.action),
        action,
      ).toEqual([action])
    }
  })
})

describe('site admins', () => {
  it('see every organization in GET /admin/orgs, which other accounts may not read', async () => {
    const { org } = await ownedOrg()
    const siteAdmin = await asAdmin()
    const seen: Organization[] = []
    let cursor: string | null = null
    for (let pages = 0; pages < 100; pages++) {
      const response = await adminCall(siteAdmin.token, `/orgs?limit=100${cursor ? `&cursor=${cursor}` : ''}`)
      expect(response.status, await response.clone().text()).toBe(200)
      const body = (await response.json()) as { organizations: Organization[]; next_cursor?: string | null }
      seen.push(...body.organizations)
      if (!body.next_cursor) break
      cursor = body.next_cursor
    }
    expect(seen.find((o) => o.id === org.id)).toMatchObject({ id: org.id, slug: org.slug, name: org.name })

    const { tokens } = await signedIn()
    await expectProblem(await adminCall(tokens.access_token, '/orgs'), 403, 'forbidden')
    await expectProblem(await call('/admin/orgs'), 401, 'unauthorized')
  })

  it('act in an organization only as its members do: 404 outside it, its roles inside it', async () => {
    const { org, token } = await ownedOrg()
    const siteAdmin = await asAdmin()
    await expectProblem(await getOrg(org.id, siteAdmin.token), 404, 'not_found')
    await expectProblem(await patchOrg(org.id, siteAdmin.token, { name: 'Taken over' }), 404, 'not_found')
    expect(await myOrgs(siteAdmin.token)).toEqual([])

    const adminAsMember = await verifiedSignedIn()
    await promoteToAdmin(adminAsMember.account.username)
    const staff = await login(adminAsMember.account)
    const { token: invitationToken } = await invitationFor(org.id, token, adminAsMember.account.email)
    expect((await accept(staff.access_token, invitationToken)).status).toBe(200)
    await expectProblem(await patchOrg(org.id, staff.access_token, { name: 'Taken over' }), 403, 'forbidden')
    expect(await checked(org.id, staff.access_token, ['organization:update'])).toEqual({ allowed: false, missing: ['organization:update'] })
  })
})

describe('the active organization', () => {
  it('answers a new access token carrying org_id, org_slug and org_roles; a refresh of the session keeps them', async () => {
    const { org, members } = await orgWith(['admin', 'member'])
    const [member] = members
    const answer = await json200<{ access_token: string; token_type: string; expires_in: number }>(
      await setActiveOrg(member!.token, org.slug),
    )
    expect(answer).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), expires_in: expect.any(Number) })
    const claims = claimsOf(answer.access_token)
    expect(claims).toMatchObject({ sub: member!.user.id, org_id: org.id, org_slug: org.slug })
    expect([...(claims.org_roles as string[])].sort()).toEqual(['admin', 'member'])
    expect((await getOrg(org.id, answer.access_token)).status).toBe(200)

    const refreshed = await json200<TokenPair>(await refresh(member!.tokens.refresh_token))
    expect(claimsOf(refreshed.access_token)).toMatchObject({ org_id: org.id, org_slug: org.slug, org_roles: claims.org_roles })
  })

  it('clears the organization with {org: null}, and a refresh then carries none', async () => {
    const { org, owner, token } = await ownedOrg()
    const active = await json200<{ access_token: string }>(await setActiveOrg(token, org.id))
    expect(claimsOf(active.access_token).org_id).toBe(org.id)
    const cleared = await json200<{ access_token: string }>(await setActiveOrg(active.access_token, null))
    const claims = claimsOf(cleared.access_token)
    for (const claim of ['org_id', 'org_slug', 'org_roles']) expect(claims, claim).not.toHaveProperty(claim)
    const refreshed = await json200<TokenPair>(await refresh(owner.tokens.refresh_token))
    expect(claimsOf(refreshed.access_token)).not.toHaveProperty('org_id')
  })

  it('drops the org claims at the next refresh once the member is removed, and its token with them gets 404', async () => {
    const { org, token, members } = await orgWith(['member'])
    const [member] = members
    const active = await json200<{ access_token: string }>(await setActiveOrg(member!.token, org.id))
    expect(claimsOf(active.access_token).org_id).toBe(org.id)
    expect((await removeMember(org.id, token, member!.user.id)).status).toBe(204)

    await expectProblem(await getOrg(org.id, active.access_token), 404, 'not_found')
    await expectProblem(await checkPermissions(org.id, active.access_token, []), 404, 'not_found')
    const refreshed = await json200<TokenPair>(await refresh(member!.tokens.refresh_token))
    const claims = claimsOf(refreshed.access_token)
    for (const claim of ['org_id', 'org_slug', 'org_roles']) expect(claims, claim).not.toHaveProperty(claim)
  })

  it('refuses a malformed body with validation_failed naming org', async () => {
    const { token } = await ownedOrg()
    expect(await failingFields(await call('/users/me/active-organization', { method: 'PUT', token, json: {} }))).toEqual(['org'])
    expect(await failingFields(await call('/users/me/active-organization', { method: 'PUT', token, json: { org: 42 } }))).toEqual(['org'])
  })
})
