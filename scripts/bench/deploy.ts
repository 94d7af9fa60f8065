/**
 * The two workers a run measures besides the peer: the API on a fresh local D1 (migrated, seeded
 * with N users, its own signing key, throttling raised so the run measures the work, not the
 * limiter), and the bare floor worker.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { generateRsaSigningKey, generateSigningKey, newSecretKey } from '../../src/auth/keys.ts'
import { quietEnv, run } from '../lib/run.ts'
import { ITERATIONS, seed } from './database.ts'
import { newScratch, type Served, serve, stopProcess } from './processes.ts'

export type Deployment = Served & {
  users: number
  /** The cursor of a page 90% of the way into the user table. */
  deepCursor: string
  /** Where the local D1 lives. */
  persistTo: string
  /** Stops the server and serves the same database again with REPORT_D1_USAGE on. */
  metered: () => Promise<Served>
  /** Stops the server and serves it again, unasked: its first request will meet a fresh isolate. */
  servedCold: () => Promise<Served>
}

/**
 * The project's wrangler.toml as the benchmark serves it, written into the scratch directory (its
 * paths made absolute). Unless `assets` is set, the `[assets]` table is left out: with it, the local
 * engine puts its asset router worker in front of the API, and every request passes through it
 * first (about 0.5 ms of p50 and 0.3 ms of CPU per request here, docs/benchmark.md). In production
 * Cloudflare routes assets before the worker runs, and none of it is the worker's billed CPU.
 */
function servedConfig(dir: string, assets: boolean): string {
  const source = readFileSync('wrangler.toml', 'utf8')
  const kept = assets ? source : source.replace(/^\[assets\]\n(?:(?!\[).*\n)*/m, '')
  const text = kept.replace(/^(main|directory|migrations_dir) = "(.*)"$/gm, (_, key, path) => `${key} = ${JSON.stringify(resolve(path))}`)
  const file = join(dir, 'wrangler.toml')
  writeFileSync(file, text)
  return file
}

/**
 * Migrates and seeds a fresh database with `count` users, then serves the worker on it.
 * `metered()` serves it again on the same database with REPORT_D1_USAGE on, for the rows pass.
 * With `inspector` (`npm run profile`), every serving has the inspector on and the bundle unminified.
 */
export async function deploy(count: number, options: { assets: boolean; inspector?: boolean }): Promise<Deployment> {
  const scratch = newScratch('edge-users-bench-')
  const persistTo = join(scratch.dir, 'state')
  await run('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo], {
    stdio: 'ignore',
    env: { ...quietEnv, CI: 'true' },
  })
  const deepCursor = await seed(persistTo, count)

  const envFile = join(scratch.dir, 'bench.env')
  // The key set `npm run keys:generate` makes for production: Ed25519 (access tokens) and RSA (RS256 ID tokens).
  const keys = [await generateSigningKey(), await generateRsaSigningKey()]
  writeFileSync(envFile, `JWT_PRIVATE_KEYS='${JSON.stringify(keys)}'\nSECRET_KEY='${newSecretKey()}'\n`)
  const args = (extra: string[]) => [
    '--config',
    servedConfig(scratch.dir, options.assets),
    '--persist-to',
    persistTo,
    '--env-file',
    envFile,
    '--var',
    'RATE_LIMIT_PER_IP_PER_MINUTE:1000000',
    '--var',
    'LOGIN_FREE_FAILURES:99',
    // The rows pass sends a few invitations, which spend the inviter's hourly budget.
    '--var',
    'PROFILE_CHANGES_PER_HOUR:1000',
    '--var',
    `PBKDF2_ITERATIONS:${ITERATIONS}`,
    ...extra,
  ]
  const inspector = options.inspector ?? false
  const served = await serve(scratch, args([]), '/api/v1/health', { inspector })
  const metered = async () => {
    if (scratch.child) await stopProcess(scratch.child)
    return serve(scratch, args(['--var', 'REPORT_D1_USAGE:true']), '/api/v1/health', { inspector })
  }
  const servedCold = async () => {
    if (scratch.child) await stopProcess(scratch.child)
    return serve(scratch, args([]), '/api/v1/health', { cold: true, inspector })
  }
  return { ...served, users: count, deepCursor, persistTo, metered, servedCold }
}

/** The minimal worker whose routes minus /noop are the floors: one derivation, one D1 round trip. */
export async function deployFloor(): Promise<Served> {
  const scratch = newScratch('edge-users-floor-')
  return serve(
    scratch,
    ['--config', 'scripts/bench/floor.wrangler.toml', '--persist-to', scratch.dir, '--var', `ITERATIONS:${ITERATIONS}`],
    '/noop',
  )
}
