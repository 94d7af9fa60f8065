/**
 * The OAuth peer (bench/oauth-peer): Cloudflare's workers-oauth-provider, installed on the first
 * `--peer` run from its own committed lock, served the same way as edge-users on a fresh local KV,
 * and its token endpoint driven exactly as edge-users' OpenID Provider's is (oauth.ts): a
 * confidential client authenticating with its secret in the form body, codes minted before each
 * run through its authorization endpoint with PKCE S256, rotating refresh tokens from a pool.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from '../lib/run.ts'
import { codeOf, codePool, PKCE_VERIFIER, pkceChallenge, REFRESH_GRANTS, refreshPool } from './code-pool.ts'
import { PEER_OAUTH_EXCHANGE, PEER_OAUTH_REFRESH } from './declared-ratios.ts'
import type { RequestSpec } from './load.ts'
import { newScratch, type Served, serve } from './processes.ts'

export const OAUTH_PEER_DIR = 'bench/oauth-peer'
const LIBRARY = '@cloudflare/workers-oauth-provider'
/** The library and the version its package.json pins, as the report names them. */
export const oauthPeerLibrary = () => {
  const { dependencies } = JSON.parse(readFileSync(join(OAUTH_PEER_DIR, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>
  }
  return { name: LIBRARY, version: dependencies[LIBRARY] ?? 'unknown' }
}

/** The client's redirect URI: the one edge-users' bench client has (a loopback URI, which the library accepts over http). */
const REDIRECT_URI = 'http://localhost:5173/callback'
/** The peer is no OpenID Provider, so no `openid`: the rest of what edge-users' bench client asks for. */
const SCOPE = 'profile email'

/** Installs the OAuth peer's own dependencies, once (its lock is committed). */
export async function installOAuthPeer() {
  if (existsSync(join(OAUTH_PEER_DIR, 'node_modules', LIBRARY))) return
  process.stderr.write(`Installing the OAuth peer (${OAUTH_PEER_DIR}), once\n`)
  await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: OAUTH_PEER_DIR, stdio: 'inherit' })
}

export type OAuthPeer = Served & { clientId: string; secret: string }

/**
 * The OAuth peer on a fresh local KV (persisted in the scratch, like edge-users' D1), with one
 * confidential client registered through its setup route (createClient), and a check that a code
 * it mints is exchanged and its access token accepted on its protected route.
 */
export async function deployOAuthPeer(): Promise<OAuthPeer> {
  const scratch = newScratch('edge-users-oauth-peer-')
  const envFile = join(scratch.dir, 'oauth-peer.env')
  const setupToken = crypto.randomUUID()
  writeFileSync(envFile, `SETUP_TOKEN='${setupToken}'\n`)
  const served = await serve(
    scratch,
    // The resource is the protected route's URL, port included: the library matches a token's audience against it.
    (port) => [
      '--config',
      join(OAUTH_PEER_DIR, 'wrangler.toml'),
      '--persist-to',
      join(scratch.dir, 'state'),
      '--env-file',
      envFile,
      '--var',
      `RESOURCE:http://127.0.0.1:${port}/api`,
    ],
    '/hello',
  )
  const created = await fetch(`${served.baseUrl}/setup/client`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${setupToken}` },
    body: JSON.stringify({ redirect_uri: REDIRECT_URI }),
  })
  if (created.status !== 201) throw new Error(`registering the OAuth peer's client answered ${created.status}: ${await created.text()}`)
  const { client_id, client_secret } = (await created.json()) as { client_id: string; client_secret: string }
  const peer = { ...served, clientId: client_id, secret: client_secret }
  const { access_token } = await exchange(peer, await mintCode(peer, await authorizePath(peer)))
  const api = await fetch(`${served.baseUrl}/api`, { headers: { authorization: `Bearer ${access_token}` } })
  if (api.status !== 200) throw new Error(`the OAuth peer's protected route refused its own access token: ${api.status}`)
  return peer
}

const authorizePath = async ({ clientId }: OAuthPeer) =>
  `/authorize?${new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    code_challenge: await pkceChallenge(),
    code_challenge_method: 'S256',
  })}`

/** A code, the way a browser gets one: its authorization route approves at once and redirects with it. */
const mintCode = async ({ baseUrl }: OAuthPeer, path: string) => codeOf(await fetch(`${baseUrl}${path}`, { redirect: 'manual' }))

/** The token endpoint's form, the client's secret in it (client_secret_post), as edge-users' bench client sends it. */
const form = ({ clientId, secret }: OAuthPeer, fields: Record<string, string>) =>
  new URLSearchParams({ client_id: clientId, client_secret: secret, ...fields }).toString()
const exchangeForm = (peer: OAuthPeer, code: string) =>
  form(peer, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: PKCE_VERIFIER })
const TOKEN_PATH = '/oauth/token'
const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' }

async function exchange(peer: OAuthPeer, code: string) {
  const response = await fetch(`${peer.baseUrl}${TOKEN_PATH}`, { method: 'POST', headers: formHeaders, body: exchangeForm(peer, code) })
  if (response.status !== 200) throw new Error(`the OAuth peer's code exchange answered ${response.status}: ${await response.text()}`)
  return (await response.json()) as { access_token: string; refresh_token: string }
}

/** The peer's counterparts of 'oauth code exchange' and 'oauth refresh', with their pools. */
export async function oauthPeerEndpoints(peer: OAuthPeer): Promise<{ name: string; spec: RequestSpec }[]> {
  const path = await authorizePath(peer)
  const codes = codePool(() => mintCode(peer, path))
  const first = await Promise.all(Array.from({ length: REFRESH_GRANTS }, async () => exchange(peer, await mintCode(peer, path))))
  const refreshes = refreshPool(first.map((tokens) => tokens.refresh_token))
  return [
    {
      name: PEER_OAUTH_EXCHANGE,
      spec: {
        method: 'POST',
        path: TOKEN_PATH,
        headers: formHeaders,
        credentials: codes.credentials,
        body: () => exchangeForm(peer, codes.next()),
      },
    },
    {
      name: PEER_OAUTH_REFRESH,
      spec: {
        method: 'POST',
        path: TOKEN_PATH,
        headers: formHeaders,
        body: () => form(peer, { grant_type: 'refresh_token', refresh_token: refreshes.next() }),
        onResponse: refreshes.onResponse,
      },
    },
  ]
}
