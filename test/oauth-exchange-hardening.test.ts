import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { call, login, ORIGIN, signup } from './helpers'
import {
  authorize,
  authorizedTokens,
  authorizePath,
  codeFrom,
  codeUnder,
  exchange,
  oauthPost,
  pkce,
  registeredClient,
  signedInBrowser,
  type TokenAnswer,
} from './oauth-helpers'

/* The code-exchange fast path and the client-token signature cache, tried from the outside (from an independent review). */

afterEach(() => {
  vi.useRealTimers()
})

const userinfo = (token: string) => call(`${ORIGIN}/oauth2/userinfo`, { headers: { Authorization: `Bearer ${token}` } })

async function codeUsedAt(code: string) {
  const grantId = code.split('~')[0]!
  const row = await env.DB.prepare('SELECT code_used_at AS used FROM oauth_grants WHERE id = ?')
    .bind(grantId)
    .first<{ used: number | null }>()
  return row ? row.used : 'gone'
}

describe('the exchange fast path', () => {
  it('a code whose one resource left OAUTH_RESOURCES since the authorization is refused and stays unspent', async () => {
    const resource = 'https://api.review.example/'
    const { code, exchangeUnder } = await codeUnder({ OAUTH_RESOURCES: JSON.stringify([resource]) }, { resource: [resource] })
    const refused = await exchangeUnder({ OAUTH_RESOURCES: JSON.stringify(['https://other.review.example/']) })
    expect(((await refused.json()) as TokenAnswer).error).toBe('invalid_target')
    // A refused exchange must leave the code to its rightful use (docs/api.md, "Codes and grants").
    expect(await codeUsedAt(code)).toBeNull()
  })

  it('two exchanges of one code at once give one answer, and the loser ends what the winner got', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { verifier, challenge } = await pkce()
    const code = codeFrom(await authorize(browser, authorizePath(client.id, challenge)))
    const answers = await Promise.all([exchange(client, code, verifier), exchange(client, code, verifier)])
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 400])
    const won = (await answers.find((answer) => answer.status === 200)!.json()) as TokenAnswer
    const lost = (await answers.find((answer) => answer.status === 400)!.json()) as TokenAnswer
    expect(lost.error).toBe('invalid_grant')
    expect(await codeUsedAt(code)).toBe('gone')
    expect((await userinfo(won.access_token!)).status).toBe(401)
  })

  it('a code with another grant’s id in front redeems nothing, and both real codes still redeem', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const one = await pkce()
    const two = await pkce()
    const first = codeFrom(await authorize(browser, authorizePath(client.id, one.challenge)))
    const second = codeFrom(await authorize(browser, authorizePath(client.id, two.challenge)))
    const forged = `${second.split('~')[0]}~${first.split('~')[1]}`
    for (const verifier of [one.verifier, two.verifier]) {
      const refused = await exchange(client, forged, verifier)
      expect(((await refused.json()) as TokenAnswer).error).toBe('invalid_grant')
    }
    expect(await codeUsedAt(first)).toBeNull()
    expect(await codeUsedAt(second)).toBeNull()
    expect((await exchange(client, first, one.verifier)).status).toBe(200)
    expect((await exchange(client, second, two.verifier)).status).toBe(200)
  })

  it('a wrong verifier on the fast path spends nothing and revokes nothing', async () => {
    const client = await registeredClient()
    const { browser } = await signedInBrowser()
    const { verifier, challenge } = await pkce()
    const code = codeFrom(await authorize(browser, authorizePath(client.id, challenge)))
    const other = await pkce()
    expect(((await (await exchange(client, code, other.verifier)).json()) as TokenAnswer).error).toBe('invalid_grant')
    expect(await codeUsedAt(code)).toBeNull()
    expect((await exchange(client, code, verifier)).status).toBe(200)
  })

  it('another client presenting a spent code neither gets tokens nor revokes the grant', async () => {
    const { client, code, verifier, tokens } = await authorizedTokens()
    const thief = await registeredClient()
    expect(((await (await exchange(thief, code, verifier)).json()) as TokenAnswer).error).toBe('invalid_grant')
    expect((await userinfo(tokens.access_token!)).status).toBe(200)
    expect(client.id).not.toBe(thief.id)
  })
})

describe('the client-token signature cache', () => {
  it('a cached token stops at userinfo once its grant is revoked', async () => {
    const { client, tokens } = await authorizedTokens()
    expect((await userinfo(tokens.access_token!)).status).toBe(200)
    expect((await userinfo(tokens.access_token!)).status).toBe(200)
    expect((await oauthPost('/oauth2/revoke', { token: tokens.refresh_token! }, { client })).status).toBe(200)
    expect((await userinfo(tokens.access_token!)).status).toBe(401)
    const introspected = await oauthPost('/oauth2/introspect', { token: tokens.access_token! }, { client })
    expect(await introspected.json()).toEqual({ active: false })
  })

  it('a cached token stops at userinfo once it expires', async () => {
    const { tokens } = await authorizedTokens()
    expect((await userinfo(tokens.access_token!)).status).toBe(200)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() + 901 * 1000)
    expect((await userinfo(tokens.access_token!)).status).toBe(401)
  })

  it('a first-party token is never a userinfo token, nor a client token an account API token, cached or not', async () => {
    const { tokens } = await authorizedTokens()
    const { account } = await signup()
    const firstParty = await login(account)
    for (let i = 0; i < 2; i++) {
      expect((await userinfo(firstParty.access_token)).status).toBe(401)
      expect((await call('/users/me', { token: firstParty.access_token })).status).toBe(200)
      expect((await userinfo(tokens.access_token!)).status).toBe(200)
      expect((await call('/users/me', { token: tokens.access_token! })).status).toBe(401)
    }
  })

  it('after the key set changes, a cached token signed by a key no longer held is refused', async () => {
    const { tokens } = await authorizedTokens()
    expect((await userinfo(tokens.access_token!)).status).toBe(200)
    // TEST_SPARE_KEY: a key the tests hold but the worker never signed with.
    const answer = await call(`${ORIGIN}/oauth2/userinfo`, {
      headers: { Authorization: `Bearer ${tokens.access_token}` },
      env: { JWT_PRIVATE_KEYS: JSON.stringify([JSON.parse(env.TEST_SPARE_KEY)]) },
    })
    expect(answer.status, await answer.clone().text()).toBe(401)
  })
})
