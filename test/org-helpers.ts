import { expect } from 'vitest'
import { call, deliver, linkIn, mailRig, signedIn, verifiedSignedIn } from './helpers'

/**
 * Helpers for the "Organizations and their roles" section of the contract: every one goes through
 * HTTP, the way a client of the API builds an organization, its members and its roles.
 */

export type Organization = { id: string; slug: string; name: string; created_at: string }
export type Member = { user_id: string; username: string; email: string; roles: string[]; joined_at: string }
export type Invitation = { id: string; email: string; roles: string[]; expires_at: string }
export type Role = { name: string; permissions: string[] }
export type OrgAuditEvent = {
  id: string
  at: string
  action: string
  actor_id: string | null
  target_id: string | null
  org_id?: string | null
  details: Record<string, unknown> | null
}

/** Every built-in permission, as the contract lists them. */
export const BUILT_IN_PERMISSIONS = [
  'organization:update',
  'organization:delete',
  'member:invite',
  'member:remove',
  'member:update',
  'role:manage',
  'audit:read',
] as const

const ok = async (response: Response, status: number) => {
  expect(response.status, `${response.url} ${await response.clone().text()}`).toBe(status)
}

let slugCounter = 0
/** A valid, unused slug. */
export const newSlug = (prefix = 'org') => `${prefix}-${++slugCounter}-${crypto.randomUUID().slice(0, 8)}`

export async function createOrg(token: string, body: { slug?: string; name?: string } = {}): Promise<Organization> {
  const slug = body.slug ?? newSlug()
  const response = await call('/orgs', { token, json: { slug, name: body.name ?? `Organization ${slug}` } })
  await ok(response, 201)
  return ((await response.json()) as { organization: Organization }).organization
}

/** A new signed-in account and an organization it owns. */
export async function ownedOrg(body: { slug?: string; name?: string } = {}) {
  const owner = await signedIn()
  const org = await createOrg(owner.tokens.access_token, body)
  return { owner, org, token: owner.tokens.access_token }
}

export function invite(orgRef: string, token: string, email: string, roles: string[], rig = mailRig()) {
  return call(`/orgs/${orgRef}/invitations`, { token, json: { email, roles }, env: rig.env })
}

/** Invites `email` and delivers the mail: the invitation, the mail and the token its link carries. */
export async function invitationFor(orgRef: string, token: string, email: string, roles: string[] = ['member']) {
  const rig = mailRig()
  const response = await invite(orgRef, token, email, roles, rig)
  await ok(response, 201)
  const { invitation } = (await response.json()) as { invitation: Invitation }
  await deliver(rig.jobs.splice(0), rig)
  const mail = rig.sent.filter((sent) => sent.to === email).at(-1)
  return { invitation, mail, ...linkIn(mail) }
}

export const accept = (token: string, invitationToken: string) => call('/invitations/accept', { token, json: { token: invitationToken } })

/** A new account with a verified address, invited with `roles` and accepted: now a member. */
export async function addMember(orgRef: string, inviterToken: string, roles: string[] = ['member']) {
  const person = await verifiedSignedIn()
  const { token } = await invitationFor(orgRef, inviterToken, person.account.email, roles)
  await ok(await accept(person.tokens.access_token, token), 200)
  return { ...person, token: person.tokens.access_token }
}

/** An organization with an owner plus one member per entry of `roles`, each with those roles. */
export async function orgWith(...roles: string[][]) {
  const base = await ownedOrg()
  const members: Awaited<ReturnType<typeof addMember>>[] = []
  for (const memberRoles of roles) members.push(await addMember(base.org.id, base.token, memberRoles))
  return { ...base, members }
}

export async function listMembers(orgRef: string, token: string, limit?: number): Promise<Member[]> {
  const seen: Member[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 100; pages++) {
    const query = new URLSearchParams()
    if (limit !== undefined) query.set('limit', String(limit))
    if (cursor) query.set('cursor', cursor)
    const response = await call(`/orgs/${orgRef}/members${query.size ? `?${query}` : ''}`, { token })
    await ok(response, 200)
    const body = (await response.json()) as { members: Member[]; next_cursor: string | null }
    if (limit !== undefined) expect(body.members.length).toBeLessThanOrEqual(limit)
    seen.push(...body.members)
    if (!body.next_cursor) return seen
    cursor = body.next_cursor
  }
  throw new Error('paging did not end')
}

export async function ownersOf(orgRef: string, token: string): Promise<string[]> {
  return (await listMembers(orgRef, token)).filter((member) => member.roles.includes('owner')).map((member) => member.user_id)
}

export async function rolesOf(orgRef: string, token: string, userId: string): Promise<string[] | undefined> {
  return (await listMembers(orgRef, token))
    .find((member) => member.user_id === userId)
    ?.roles.slice()
    .sort()
}

export const setRoles = (orgRef: string, token: string, userId: string, roles: string[]) =>
  call(`/orgs/${orgRef}/members/${userId}`, { method: 'PATCH', token, json: { roles } })

export const removeMember = (orgRef: string, token: string, userId: string) =>
  call(`/orgs/${orgRef}/members/${userId}`, { method: 'DELETE', token })

export const postRole = (orgRef: string, token: string, name: string, permissions: string[]) =>
  call(`/orgs/${orgRef}/roles`, { token, json: { name, permissions } })

export async function defineRole(orgRef: string, token: string, name: string, permissions: string[]) {
  await ok(await postRole(orgRef, token, name, permissions), 201)
}

export const checkPermissions = (orgRef: string, token: string, permissions: string[], userId?: string) =>
  call(`/orgs/${orgRef}/permissions/check`, { token, json: userId === undefined ? { permissions } : { permissions, user_id: userId } })

/** The answer of a permission check that must succeed. */
export async function checked(orgRef: string, token: string, permissions: string[], userId?: string) {
  const response = await checkPermissions(orgRef, token, permissions, userId)
  await ok(response, 200)
  const body = (await response.json()) as { allowed: boolean; missing: string[] }
  return { allowed: body.allowed, missing: [...body.missing].sort() }
}

export const setActiveOrg = (token: string, org: string | null) =>
  call('/users/me/active-organization', { method: 'PUT', token, json: { org } })

export async function orgAudit(
  orgRef: string,
  token: string,
  query = '',
): Promise<{ events: OrgAuditEvent[]; next_cursor: string | null }> {
  const response = await call(`/orgs/${orgRef}/audit${query ? `?${query}` : ''}`, { token })
  await ok(response, 200)
  return (await response.json()) as { events: OrgAuditEvent[]; next_cursor: string | null }
}

/**
 * The organization an audit event names. The contract says each organization event is audited
 * "with its org_id" without saying where: a top-level `org_id` or one in `details` both count.
 */
export const orgIdOf = (event: OrgAuditEvent) => event.org_id ?? (event.details?.org_id as string | undefined) ?? null
