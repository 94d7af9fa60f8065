/**
 * The Better Auth peer (bench/peer): installed on the first `--peer` run from its own committed
 * lock, then served on a fresh D1 the same way as edge-users, with accounts signed up through its
 * own API.
 */
import { existsSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { join } from 'node:path'
import { quietEnv, run } from '../lib/run.ts'
import { BENCH_PASSWORD } from './database.ts'
import { newScratch, type Served, serve } from './processes.ts'

export const PEER_DIR = 'bench/peer'
export const PEER_USERS = 20
export const peerEmail = (i: number) => `peer_user_${i}@bench.example`

/** Installs the Better Auth peer's own dependencies, once (its lock is committed). */
export async function installPeer() {
  if (existsSync(join(PEER_DIR, 'node_modules', 'better-auth'))) return
  process.stderr.write('Installing the Better Auth peer (bench/peer), once\n')
  await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: PEER_DIR, stdio: 'inherit' })
}

/**
 * The Better Auth peer on a fresh D1, served the same way as edge-users, with PEER_USERS accounts
 * signed up through its own API (its password hashes are its default scrypt). Returns the cookie
 * of a signed-in session for get-session.
 */
export async function deployPeer(): Promise<Served & { sessionCookie: string }> {
  const scratch = newScratch('edge-users-peer-')
  const persistTo = join(scratch.dir, 'state')
  const config = join(PEER_DIR, 'wrangler.toml')
  await run('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local', '--config', config, '--persist-to', persistTo], {
    stdio: 'ignore',
    env: { ...quietEnv, CI: 'true' },
  })
  const envFile = join(scratch.dir, 'peer.env')
  writeFileSync(envFile, `BETTER_AUTH_SECRET='${crypto.randomUUID()}${crypto.randomUUID()}'\n`)
  const served = await serve(scratch, ['--config', config, '--persist-to', persistTo, '--env-file', envFile], '/hello')
  // Plain HTTP, as the load generator sends it: Node's fetch would mark the requests as a browser's
  // (sec-fetch-*), which Better Auth then refuses without an Origin that fetch may not set.
  const post = (path: string, body: unknown) => plainRequest(`${served.baseUrl}/api/auth${path}`, 'POST', JSON.stringify(body))
  for (let i = 0; i < PEER_USERS; i++) {
    const response = await post('/sign-up/email', { email: peerEmail(i), password: BENCH_PASSWORD, name: `Peer ${i}` })
    if (response.status !== 200) throw new Error(`the peer's sign-up answered ${response.status}: ${response.body}`)
  }
  const signedIn = await post('/sign-in/email', { email: peerEmail(0), password: BENCH_PASSWORD })
  const sessionCookie = signedIn.cookies.map((cookie) => cookie.split(';')[0]).join('; ')
  const check = await plainRequest(`${served.baseUrl}/api/auth/get-session`, 'GET', undefined, { cookie: sessionCookie })
  if (check.status !== 200 || check.body === 'null') throw new Error('the peer gave no usable session cookie')
  return { ...served, sessionCookie }
}

function plainRequest(url: string, method: string, body?: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: string; cookies: string[] }>((resolve, reject) => {
    const request = httpRequest(
      url,
      { method, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...headers } },
      (response) => {
        let text = ''
        response.on('data', (chunk: Buffer) => (text += chunk))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text, cookies: response.headers['set-cookie'] ?? [] }))
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}
