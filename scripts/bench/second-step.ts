/**
 * The benchmark's authenticator, for the second step of a login (POST /users/login/mfa). Bench
 * accounts are enrolled through the API itself (a login, POST /users/me/mfa/totp, then /confirm
 * with the first code), so their factors are sealed and stored as a user's would be. Each
 * measured request then needs two single-use things: an `mfa_token` (from a password login,
 * 300 s, single use) and a code for a time step the account has not spent (a step works once per
 * account, and a code is accepted one step either side of now). So before each run the pool of
 * mfa tokens is filled, outside the run's timing, with as many as the run is expected to use and
 * the accounts' unspent steps allow, and each request's code is computed as it is sent.
 */
import { Secret } from 'otpauth'
import { stepAt, totpCode } from '../../src/auth/totp.ts'
import { type Credentials, RunRates } from './load.ts'

type Account = { username: string; secret: Uint8Array; lastStep: number }
type Pending = { account: Account; mfaToken: string; issuedAt: number }

/** An mfa token is kept for a run while it has this long left of its 300 s. */
const TOKEN_KEPT_MS = 240_000
/** Requests in flight while the pool is filled or accounts are enrolled. */
const SETUP_CONCURRENCY = 8
/** How much more than the expected requests a run's pool holds. */
const MARGIN = 1.25
/** Requests a second the first run is sized for, before any has been observed. */
const FIRST_GUESS_RPS = 100

async function call(
  baseUrl: string,
  path: string,
  body: unknown,
  token?: string,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  })
  return { status: response.status, json: (await response.json()) as Record<string, unknown> }
}

async function inParallel<T>(items: T[], work: (item: T) => Promise<void>) {
  const queue = [...items]
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await work(item)
  }
  await Promise.all(Array.from({ length: SETUP_CONCURRENCY }, worker))
}

/** The steps an account can still spend, from now on: at most this one and the next. */
const stepsLeft = (account: Account, now: number) => Math.max(0, stepAt(now) + 1 - Math.max(account.lastStep, stepAt(now) - 1))

/**
 * Second-step logins for the accounts with these usernames (enrolled when first needed, as many as
 * the runs ask for), as a credential pool for load.ts and a body for each request.
 */
export function secondStepLogins(options: { baseUrl: () => string; usernames: string[]; password: string }) {
  const { password } = options
  const unenrolled = [...options.usernames]
  const accounts: Account[] = []
  let pool: Pending[] = []
  const rates = new RunRates(FIRST_GUESS_RPS)

  async function enrol(count: number) {
    const usernames = unenrolled.splice(0, count)
    if (usernames.length === 0) return
    process.stderr.write(`  enrolling ${usernames.length} accounts in TOTP through the API\n`)
    await inParallel(usernames, async (username) => {
      const login = await call(options.baseUrl(), '/users/login', { username, password })
      const token = login.json.access_token as string
      const started = await call(options.baseUrl(), '/users/me/mfa/totp', { password }, token)
      if (started.status !== 200) throw new Error(`TOTP enrolment of ${username} answered ${started.status}`)
      const secret = Secret.fromBase32(started.json.secret as string).bytes
      const step = stepAt(Date.now())
      const confirmed = await call(options.baseUrl(), '/users/me/mfa/totp/confirm', { code: totpCode(secret, step) }, token)
      if (confirmed.status !== 200) throw new Error(`TOTP confirmation of ${username} answered ${confirmed.status}`)
      accounts.push({ username, secret, lastStep: step })
    })
  }

  /** A password login that stops at the second step, for its mfa token. */
  async function askForMfaToken(account: Account): Promise<void> {
    const { status, json } = await call(options.baseUrl(), '/users/login', { username: account.username, password })
    if (status !== 403 || typeof json.mfa_token !== 'string')
      throw new Error(`login of ${account.username} answered ${status}, not mfa_required`)
    pool.push({ account, mfaToken: json.mfa_token, issuedAt: Date.now() })
  }

  /** How many pooled tokens can be answered now, each with a step its account has not spent. */
  function usableNow(): number {
    const now = Date.now()
    const left = new Map<Account, number>()
    let usable = 0
    for (const { account } of pool) {
      const steps = left.get(account) ?? stepsLeft(account, now)
      if (steps > 0) usable++
      left.set(account, steps - 1)
    }
    return usable
  }

  const credentials: Credentials = {
    async prepare({ connections, seconds, requests }) {
      const wanted = Math.max(connections, Math.ceil(requests ?? rates.expected(connections) * (seconds ?? 1) * MARGIN))
      pool = pool.filter((pending) => Date.now() - pending.issuedAt < TOKEN_KEPT_MS)
      // Enough accounts that their unspent steps cover the run: a new one has one step left.
      const supply = () => accounts.reduce((sum, account) => sum + stepsLeft(account, Date.now()), 0)
      if (supply() < wanted) await enrol(wanted - supply())
      const now = Date.now()
      const pooled = new Map<Account, number>()
      for (const { account } of pool) pooled.set(account, (pooled.get(account) ?? 0) + 1)
      const logins: Account[] = []
      // Round the accounts, one token each a pass, so one account's tokens are far apart in the pool.
      for (let pass = 0; pass < 2 && pool.length + logins.length < wanted; pass++) {
        for (const account of accounts) {
          if (pool.length + logins.length >= wanted) break
          const held = pooled.get(account) ?? 0
          if (held < stepsLeft(account, now)) {
            pooled.set(account, held + 1)
            logins.push(account)
          }
        }
      }
      await inParallel(logins, askForMfaToken)
      rates.started(connections)
    },
    available: usableNow,
  }

  /** The next request's body: a pooled token and a code for the earliest step its account has left. */
  function body(): string {
    const now = Date.now()
    rates.took()
    const index = pool.findIndex(({ account }) => stepsLeft(account, now) > 0)
    // Unreachable while runs stay within available(); an answer of 401 would show it.
    if (index < 0) return JSON.stringify({ mfa_token: 'none-left', code: '000000' })
    const [{ account, mfaToken }] = pool.splice(index, 1) as [Pending]
    const step = Math.max(account.lastStep + 1, stepAt(now))
    account.lastStep = step
    return JSON.stringify({ mfa_token: mfaToken, code: totpCode(account.secret, step) })
  }

  return { credentials, body }
}
