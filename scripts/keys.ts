/**
 * Signing keys for `JWT_PRIVATE_KEYS`. Every command that prints writes the key set, and nothing
 * else, to stdout, so its output can be stored as the secret as it is:
 *
 *   keys:generate                 a new set of one key
 *   keys:rotate -- CURRENT.json   a new key first (it signs from now on), then the current keys (they still verify)
 *   keys:retire -- ROTATED.json   the signing key alone, once the others' tokens have expired
 *   keys:put -- SET.json [ARGS]   checks the set, then stores it with `wrangler secret put JWT_PRIVATE_KEYS [ARGS]`
 *
 * Run the printing ones with `npm run -s` (or redirect to a file): without -s, npm prints its own
 * banner on stdout, and a secret with a banner in it is not a key set. keys:put refuses such a file.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { generateSigningKey, importSigningKeys } from '../src/auth/keys.ts'
import { quietEnv } from './lib/run.ts'

type Jwk = Awaited<ReturnType<typeof generateSigningKey>>

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
    const key = await generateSigningKey()
    print([key])
    console.error(`New signing key ${key.kid}.`)
    break
  }
  case 'rotate': {
    const current = await readKeySet(path)
    const key = await generateSigningKey()
    print([key, ...current])
    console.error(
      `New signing key ${key.kid}; ${current.map((k) => k.kid).join(', ')} still verify. Retire them after ACCESS_TOKEN_TTL_SECONDS.`,
    )
    break
  }
  case 'retire': {
    const [signing, ...retired] = await readKeySet(path)
    print([signing!])
    console.error(
      retired.length ? `Keeps ${signing!.kid}; drops ${retired.map((k) => k.kid).join(', ')}.` : `Only ${signing!.kid} was in the set.`,
    )
    break
  }
  case 'put':
    process.exitCode = await put(await readKeySet(path), rest)
    break
  default:
    fail(usage)
}
