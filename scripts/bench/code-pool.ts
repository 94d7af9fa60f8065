/**
 * The pools an OAuth token endpoint is driven from, for edge-users' OpenID Provider and for the
 * OAuth peer alike, so both are measured the same way. A code is single use and short lived, so
 * before each run a pool of codes is minted outside its timing, by whatever the server's
 * authorization endpoint asks of a browser. Refresh tokens rotate: each request takes one from a
 * pool and the answer puts back its successor.
 */
import { type Credentials, RunRates } from './load.ts'

/** One verifier for every code: PKCE's cost to the server is the same whatever the verifier. */
export const PKCE_VERIFIER = 'bench-verifier-0123456789-abcdefghijklmnopqrstuvwxyz'
/** A code is used within this long of its minting (edge-users' live 60 s, the peer's 10 minutes). */
const CODE_KEPT_MS = 40_000
const SETUP_CONCURRENCY = 8
const MARGIN = 1.25
const FIRST_GUESS_RPS = 100

/** PKCE S256: the challenge an authorization request carries for PKCE_VERIFIER. */
export async function pkceChallenge(): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(PKCE_VERIFIER)))
  return Buffer.from(digest).toString('base64url')
}

/** The code an authorization endpoint's redirect carries to the client, or an error saying what came instead. */
export function codeOf(response: Response): string {
  const code = new URL(response.headers.get('location') ?? 'x:').searchParams.get('code')
  if (response.status < 300 || response.status >= 400 || !code)
    throw new Error(`the authorization endpoint answered ${response.status}, not a code`)
  return code
}

/**
 * Codes from `mint`, enough for each run: sized from the rate earlier runs at the same
 * concurrency reached, refilled before each run, and dropped once too old to redeem.
 * `next()` is each request's code.
 */
export function codePool(mint: () => Promise<string>) {
  let codes: { code: string; at: number }[] = []
  const fresh = () => codes.filter(({ at }) => Date.now() - at < CODE_KEPT_MS)
  const rates = new RunRates(FIRST_GUESS_RPS)
  const credentials: Credentials = {
    async prepare({ connections, seconds, requests }) {
      const wanted = Math.max(connections, Math.ceil(requests ?? rates.expected(connections) * (seconds ?? 1) * MARGIN))
      codes = fresh()
      let missing = Math.max(0, wanted - codes.length)
      await Promise.all(
        Array.from({ length: SETUP_CONCURRENCY }, async () => {
          for (; missing > 0; missing--) codes.push({ code: await mint(), at: Date.now() })
        }),
      )
      rates.started(connections)
    },
    available: () => fresh().length,
  }
  return {
    credentials,
    next: () => {
      rates.took()
      return codes.shift()?.code ?? 'none-left'
    },
  }
}

/**
 * Rotating refresh tokens: `next()` takes the oldest for a request, and `onResponse` puts back
 * the successor its answer carries, so no token is sent twice and none waits behind a request.
 */
export function refreshPool(tokens: string[]) {
  const pool = [...tokens]
  return {
    next: () => pool.shift() ?? 'none-left',
    onResponse: (status: number, body: string) => {
      if (status === 200) pool.push((JSON.parse(body) as { refresh_token: string }).refresh_token)
    },
  }
}

/** Refresh tokens of this many grants, as the API's refresh keeps 24 sessions'. */
export const REFRESH_GRANTS = 24
