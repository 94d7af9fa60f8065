/**
 * The benchmark's passkeys, for a passwordless sign-in (POST /users/passkeys/login). A few bench
 * accounts register a passkey through the API (a login, the creation options, the registration)
 * with the software authenticator the tests use (test/authenticator.ts), as synced passkeys do:
 * a counter that stays 0. Each measured request needs a single-use challenge, so before each run
 * the pool is filled, outside its timing: one options call and one signed assertion per request.
 */
import { SoftAuthenticator, type SoftCredential } from '../../test/authenticator.ts'
import { type Credentials, RunRates } from './load.ts'

/** Requests a second the first run is sized for, before any has been observed. */
const FIRST_GUESS_RPS = 300
const MARGIN = 1.25
const SETUP_CONCURRENCY = 8

async function post(baseUrl: string, path: string, body: unknown, token?: string) {
  const response = await fetch(`${baseUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  })
  return { status: response.status, json: (await response.json()) as Record<string, unknown> }
}

/** Passwordless sign-ins for the accounts with these usernames: a credential pool for load.ts and a body for each request. */
export function passkeySignIns(options: { baseUrl: () => string; usernames: string[]; password: string }) {
  const authenticator = new SoftAuthenticator()
  const credentials: SoftCredential[] = []
  let pool: string[] = []
  const rates = new RunRates(FIRST_GUESS_RPS)

  async function register() {
    process.stderr.write(`  registering ${options.usernames.length} passkeys through the API\n`)
    for (const username of options.usernames) {
      const login = await post(options.baseUrl(), '/users/login', { username, password: options.password })
      const token = login.json.access_token as string
      const offered = await post(options.baseUrl(), '/users/me/passkeys/options', { password: options.password }, token)
      if (offered.status !== 200) throw new Error(`passkey options for ${username} answered ${offered.status}`)
      const made = await authenticator.register(offered.json.options as never)
      const added = await post(
        options.baseUrl(),
        '/users/me/passkeys',
        { challenge_id: offered.json.challenge_id, credential: made.response },
        token,
      )
      if (added.status !== 201) throw new Error(`passkey registration for ${username} answered ${added.status}`)
      credentials.push(made.credential)
    }
  }

  async function prepareOne(index: number) {
    const offered = await post(options.baseUrl(), '/users/passkeys/login/options', {})
    if (offered.status !== 200) throw new Error(`passkey sign-in options answered ${offered.status}`)
    const credential = credentials[index % credentials.length] as SoftCredential
    const assertion = await authenticator.assert(offered.json.options as never, credential, { counter: 0 })
    pool.push(JSON.stringify({ challenge_id: offered.json.challenge_id, credential: assertion }))
  }

  const pool_: Credentials = {
    async prepare({ connections, seconds, requests }) {
      if (credentials.length === 0) await register()
      const wanted = Math.max(connections, Math.ceil(requests ?? rates.expected(connections) * (seconds ?? 1) * MARGIN))
      // A challenge lives 5 minutes: what an earlier run left is still good for a while, but start clean.
      pool = []
      let next = 0
      await Promise.all(
        Array.from({ length: SETUP_CONCURRENCY }, async () => {
          while (next < wanted) await prepareOne(next++)
        }),
      )
      rates.started(connections)
    },
    available: () => pool.length,
  }

  function body(): string {
    rates.took()
    return pool.shift() ?? JSON.stringify({ challenge_id: 'none-left', credential: {} })
  }

  return { credentials: pool_, body }
}
