/**
 * Signing keys for `JWT_PRIVATE_KEYS`. Every command that prints writes the key set, and nothing
 * else, to stdout, so its output can be stored as the secret as it is:
 *
 *   keys:generate                 a new set: an Ed25519 key (access tokens) and an RSA key (ID tokens)
 *   keys:rotate -- CURRENT.json   a new key of each kind first (they sign from now on), then the current keys (they still verify)
 *   keys:retire -- ROTATED.json   the signing key of each kind alone, once the others' tokens have expired
 *   keys:put -- SET.json [ARGS]   checks the set, then stores it with `wrangler secret put JWT_PRIVATE_KEYS [ARGS]`
 *
 * Run the printing ones with `npm run -s` (or redirect to a file): without -s, npm prints its own
 * banner on stdout, and a secret with a banner in it is not a key set. keys:put refuses such a file.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { generateRsaSigningKey, generateSigningKey, importSigningKeys } from '../src/auth/keys.ts'
import { quietEnv } from './lib/run.ts'

type Jwk = Awaited<ReturnType<typeof generateSigningKey>> | Awaited<ReturnType<typeof generateRsaSigningKey>>

const usage = `Usage:
  npm run -s keys:generate > keys.json
  npm run -s keys:rotate -- keys.json > keys.next.json
  npm run -s keys:retire -- keys.next.json > keys.json
  npm run keys:put -- keys.json [--env NAME]`

function fail(message: string): never {
  console.error(message)
  process.exit(2)
}

/** Reads a key set and checks it the way the worker will, so a bad file never becomes a secret. */
async function readKeySet(path: string | undefined): Promise<Jwk[]> {
  if (!path) fail(usage)
  let raw: string
  try {
    // npm runs scripts from the project root; a relative path means the caller's directory.
    raw = readFileSync(resolve(process.env.INIT_CWD ?? '.', path), 'utf8')
  } catch {
    fail(`Cannot read ${path}.`)
  }
  const checked = await importSigningKeys(raw)
  if (!checked.ok) fail(`${path} ${checked.message}.`)
  return JSON.parse(raw) as Jwk[]
}

function print(keys: Jwk[]) {
  process.stdout.write(`${JSON.stringify(keys)}\n`)
}

function put(keys: Jwk[], wranglerArgs: string[]): Promise<number> {
  const child = spawn('wrangler', ['secret', 'put', 'JWT_PRIVATE_KEYS', ...wranglerArgs], {
    stdio: ['pipe', 'inherit', 'inherit'],
    env: quietEnv,
  })
  child.stdin.end(JSON.stringify(keys))
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)))
}

const [command, path, ...rest] = process.argv.slice(2)
switch (command) {
  case 'generate': {
    const keys = [await generateSigningKey(), await generateRsaSigningKey()]
    print(keys)
    console.error(`New signing keys ${keys.map((k) => k.kid).join(' (Ed25519) and ')} (RSA).`)
    break
  }
  case 'rotate': {
    const current = await readKeySet(path)
    const fresh = [await generateSigningKey(), await generateRsaSigningKey()]
    print([...fresh, ...current])
    console.error(
      `New signing keys ${fresh.map((k) => k.kid).join(', ')}; ${current.map((k) => k.kid).join(', ')} still verify. Retire them after ACCESS_TOKEN_TTL_SECONDS (and the ID tokens' lifetime).`,
    )
    break
  }
  case 'retire': {
    const keys = await readKeySet(path)
    // The first key of each kind signs; every other one goes.
    const kept = [keys.find((k) => k.kty === 'OKP'), keys.find((k) => k.kty === 'RSA')].filter((k): k is Jwk => k !== undefined)
    const dropped = keys.filter((k) => !kept.includes(k))
    print(kept)
    console.error(
      dropped.length
        ? `Keeps ${kept.map((k) => k.kid).join(', ')}; drops ${dropped.map((k) => k.kid).join(', ')}.`
        : `Only ${kept.map((k) => k.kid).join(', ')} were in the set.`,
    )
    break
  }
  case 'put':
    process.exitCode = await put(await readKeySet(path), rest)
    break
  default:
    fail(usage)
}
