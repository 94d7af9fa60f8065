import { describe, expect, it } from 'vitest'
import { decodeJwtPart, verifiedSignedIn } from './helpers'
import { authorize, authorizePath, codeFrom, exchange, pkce, registeredClient, type TokenAnswer } from './oauth-helpers'
import { invitationFor, listMembers, ownedOrg } from './org-helpers'
import { alertOf, PageBrowser } from './page-browser'

/*
 * The organizations' parts outside the JSON API: the hosted page that accepts an invitation, and
 * the OpenID Provider's `organization` scope.
 */

async function invitedBrowser() {
  const { owner, org, token } = await ownedOrg({ name: 'Acme Analytics' })
  const person = await verifiedSignedIn()
  const invitation = await invitationFor(org.id, token, person.account.email, ['admin'])
  const browser = new PageBrowser()
  expect((await browser.signIn(person.account)).status).toBe(303)
  return { owner, org, token, person, invitation, browser }
}

describe('the accept-invitation page', () => {
  it('shows the organization and the roles offered, then makes the signed-in invitee a member with Accept invitation', async () => {
    const { org, token, person, invitation, browser } = await invitedBrowser()
    const page = await browser.get('/accept-invitation')
    expect(page.headers.get('Cache-Control')).toBe('no-store')
    const form = await page.text()
    expect(form).toContain('data-link-token')
    expect(form).toContain('data-auto-submit')
    const offer = await browser.post('/accept-invitation', { token: invitation.token })
    const offered = await offer.text()
    expect(offered).toContain('You are invited to Acme Analytics, as admin.')
    expect(offered).toContain('>Accept invitation</button>')
    const accepted = await browser.post('/accept-invitation', { token: invitation.token, decision: 'accept' })
    expect(accepted.status).toBe(200)
    expect(await accepted.text()).toContain('You are now a member of Acme Analytics.')
    const members = await listMembers(org.id, token)
    expect(members.find((member) => member.username === person.account.username)?.roles).toEqual(['admin'])
  })

  it('refuses an invitation sent to another address with the contract’s words, and adds nobody', async () => {
    const { org, token, invitation } = await invitedBrowser()
    const stranger = await verifiedSignedIn()
    const browser = new PageBrowser()
    await browser.signIn(stranger.account)
    const refused = await browser.post('/accept-invitation', { token: invitation.token, decision: 'accept' })
    expect(refused.status).toBe(403)
    expect(alertOf(await refused.text())).toMatch(/another address/)
    expect((await listMembers(org.id, token)).length).toBe(1)
  })

  it('sends a signed-out browser to sign in first, and refuses a cross-site POST before reading it', async () => {
    const { invitation } = await invitedBrowser()
    const anonymous = new PageBrowser()
    const page = await (await anonymous.get('/accept-invitation')).text()
    expect(page).toContain(`href="/sign-in?return_to=${encodeURIComponent('/accept-invitation')}"`)
    const forged = await anonymous.post(
      '/accept-invitation',
      { token: invitation.token, decision: 'accept' },
      { origin: 'https://evil.example' },
    )
    expect(forged.status).toBe(403)
  })
})

describe('the OpenID Provider’s organization scope', () => {
  it('puts the active organization in the ID token and userinfo: org_id, org_slug, org_role, org_roles', async () => {
    const { org, invitation, browser } = await invitedBrowser()
    await browser.post('/accept-invitation', { token: invitation.token, decision: 'accept' })
    // One organization: it is the one described, with no active organization chosen.
    const client = await registeredClient({ skip_consent: true })
    const { verifier, challenge } = await pkce()
    const code = codeFrom(await authorize(browser, authorizePath(client.id, challenge, { scope: 'openid organization' })))
    const tokens = (await (await exchange(client, code, verifier)).json()) as TokenAnswer
    const claims = decodeJwtPart(tokens.id_token!.split('.')[1]!)
    expect(claims).toMatchObject({ org_id: org.id, org_slug: org.slug, org_role: 'admin', org_roles: ['admin'] })
  })
})
