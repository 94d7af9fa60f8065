import { hc } from 'hono/client'
import { describe, expect, expectTypeOf, it } from 'vitest'
import type { AppType } from '../src/app'
import { newAccount, ORIGIN, workerFetch } from './helpers'

// Type-checked by `npm run typecheck` as well as run: if hc<AppType> stopped inferring the routes,
// the expectTypeOf lines and the @ts-expect-error below would fail the build.
describe('the typed client (hono/client)', () => {
  it('signs up, logs in and reads /users/me through hc<AppType>, with every body typed', async () => {
    const client = hc<AppType>(ORIGIN, { fetch: workerFetch })
    const account = newAccount()

    const created = await client.api.v1.users.signup.$post({ json: account })
    if (created.status !== 201) throw new Error(`signup answered ${created.status}`)
    const { user } = await created.json()
    expectTypeOf(user.email_verified).toEqualTypeOf<boolean>()
    expect(user.username).toBe(account.username)

    const loggedIn = await client.api.v1.users.login.$post({ json: { username: account.username, password: account.password } })
    if (loggedIn.status !== 200) throw new Error(`login answered ${loggedIn.status}`)
    const pair = await loggedIn.json()
    expectTypeOf(pair.access_token).toEqualTypeOf<string>()
    expectTypeOf(pair.token_type).toEqualTypeOf<'Bearer'>()

    const me = await client.api.v1.users.me.$get({}, { headers: { Authorization: `Bearer ${pair.access_token}` } })
    if (me.status !== 200) throw new Error(`me answered ${me.status}`)
    const body = await me.json()
    expectTypeOf(body.user.role).toEqualTypeOf<'user' | 'moderator' | 'admin'>()
    expect(body.user.id).toBe(user.id)

    // Never sent; only compiled: signup's body needs an email, and the client knows it.
    // @ts-expect-error the email is missing
    const incomplete = () => client.api.v1.users.signup.$post({ json: { username: 'x', password: 'y' } })
    expect(incomplete).toBeTypeOf('function')
  })
})
