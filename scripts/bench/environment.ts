/**
 * A fresh local deployment for one benchmark run: its own D1 (migrated, seeded with N users
 * through the real D1 binding), its own signing key, and `wrangler dev` serving the worker with
 * throttling raised so the run measures the work, not the limiter.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { createServer } from 'node:net'
import { availableParallelism, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { drizzle } from 'drizzle-orm/d1'
import { getPlatformProxy } from 'wrangler'
import { generateSigningKey } from '../../src/auth/keys.ts'
import { hashPassword } from '../../src/auth/password.ts'
import type { Config } from '../../src/config.ts'
import { promoteToAdminStatements } from '../../src/db/promote.ts'
import { users } from '../../src/db/schema.ts'
import { uuidv7 } from '../../src/lib/ids.ts'
import { encodeCursor } from '../../src/schemas/pagination.ts'
import { quietEnv, run } from '../lib/run.ts'

export const BENCH_PASSWORD = 'benchmark-passphrase-of-some-length'
export const ITERATIONS = 100_000

/** D1 allows 100 bound parameters per statement; a users row binds 11. */
const ROWS_PER_INSERT = Math.floor(100 / 11)
const INSERTS_PER_BATCH = 50

export const benchUsername = (i: number) => `bench_user_${i}`

/**
 * Where the local D1 lives during a run: in memory (tmpfs) when the machine has it. Local D1 is
 * SQLite, and on a VM's disk every commit waits milliseconds for fsync: a cost of the dev machine,
 * not of the worker (in production D1 is a remote service). Without tmpfs the figures include it.
 */
const scratchRoot = () => (existsSync('/dev/shm') ? '/dev/shm' : tmpdir())

/**
 * Where the processes run. On a small machine the load generator, wrangler and workerd otherwise
 * share cores, and a request's latency then measures the scheduler as much as the worker: workerd
 * (the worker, its local D1 and its Durable Objects, on one thread) gets the last core to itself
 * and this process, the load generator, the others. Linux only (taskset); elsewhere nothing is pinned.
 */
const lastCpu = availableParallelism() - 1
const canPin = lastCpu >= 1 && spawnSync('taskset', ['-V']).status === 0

export const pinning = canPin
  ? `workerd on CPU ${lastCpu}, the load generator on CPU${lastCpu > 1 ? `s 0–${lastCpu - 1}` : ' 0'}`
  : 'none (needs Linux taskset and two cores)'

const pin = (pid: number, cpus: string) => spawnSync('taskset', ['-apc', cpus, String(pid)], { stdio: 'ignore' })

/** Keeps the load generator (this process) off the core workerd is given. */
export function pinLoadGenerator() {
  if (canPin) pin(process.pid, lastCpu > 1 ? `0-${lastCpu - 1}` : '0')
}

/** Gives every workerd that `wrangler dev` started (its process group) the last core. */
function pinWorkerd(group: number) {
  if (!canPin) return
  const found = spawnSync('pgrep', ['-g', String(group), '-x', 'workerd'], { encoding: 'utf8' })
  for (const pid of found.stdout.split('\n').filter(Boolean)) pin(Number(pid), String(lastCpu))
}

export type Served = { baseUrl: string; cpuMs: () => number; stop: () => Promise<void> }

export type Deployment = Served & {
  users: number
  /** The cursor of a page 90% of the way into the user table. */
  deepCursor: string
  /** Where the local D1 lives. */
  persistTo: string
  /** Stops the server and serves the same database again with REPORT_D1_USAGE on. */
  metered: () => Promise<Served>
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

function progress(label: string, done: number, total: number) {
  const width = 30
  const filled = Math.round((done / total) * width)
  process.stderr.write(`\r  ${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total}`)
  if (done === total) process.stderr.write('\n')
}

async function seed(persistTo: string, count: number): Promise<string> {
  const proxy = await getPlatformProxy<{ DB: D1Database }>({ persist: { path: join(persistTo, 'v3') }, remoteBindings: false })
  try {
    const db = drizzle(proxy.env.DB)
    // One real hash, made once and shared by every seeded user: seeding measures nothing.
    const passwordHash = await hashPassword(BENCH_PASSWORD, { pbkdf2Iterations: ITERATIONS, pepper: undefined } as Config)
    const start = Date.now() - count
    const rowsAt = (from: number) =>
      Array.from({ length: Math.min(ROWS_PER_INSERT, count - from) }, (_, k) => {
        const i = from + k
        const at = new Date(start + i)
        return {
          id: uuidv7(start + i),
          username: benchUsername(i),
          usernameNormalized: benchUsername(i),
          email: `${benchUsername(i)}@bench.example`,
          passwordHash,
          createdAt: at,
          updatedAt: at,
        }
      })
    for (let from = 0; from < count; ) {
      const statements = []
      for (let s = 0; s < INSERTS_PER_BATCH && from < count; s++, from += ROWS_PER_INSERT) {
        statements.push(db.insert(users).values(rowsAt(from)))
      }
      await db.batch(statements as [(typeof statements)[number], ...typeof statements])
      progress('seeding users', Math.min(from, count), count)
    }
    await proxy.env.DB.batch(promoteToAdminStatements(benchUsername(0)).map((statement) => proxy.env.DB.prepare(statement)))
    const deep = await proxy.env.DB.prepare('SELECT id FROM users ORDER BY id LIMIT 1 OFFSET ?')
      .bind(Math.floor(count * 0.9))
      .first<{ id: string }>()
    return encodeCursor(deep!.id)
  } finally {
    await proxy.dispose()
  }
}

async function waitUntilServing(url: string, child: ChildProcess, logFile: string) {
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early; see ${logFile}`)
    try {
      if ((await fetch(url)).ok) return
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`${url} did not answer within 90 s; see ${logFile}`)
}

/**
 * wrangler dev records a trace of every request and subrequest for its local dashboard, on the
 * same workerd thread as the worker: about 1.6 ms a request and 0.6 ms a subrequest on this
 * machine. Production has no such collector, so the benchmark turns it off to measure the worker.
 */
export const DEV_SERVER_ENV = { X_LOCAL_OBSERVABILITY: 'false' }

/**
 * How a worker is served. `direct` (the default) runs it on wrangler's engine through
 * unstable_startWorker with the inspector detached (serve-direct.ts): no console line is relayed
 * through a dev server. `wrangler` runs `wrangler dev` as a developer does, inspector relay included.
 */
export type ServeMode = 'direct' | 'wrangler'
let serveMode: ServeMode = 'direct'
export const useServeMode = (mode: ServeMode) => {
  serveMode = mode
}
export const describeServeMode = () =>
  serveMode === 'direct'
    ? "direct: wrangler's engine through unstable_startWorker, inspector detached (no console relay)"
    : 'wrangler dev (its proxy and inspector relay included)'

function startServer(args: string[], logFile: string): ChildProcess {
  const log = openSync(logFile, 'w')
  const [command, commandArgs] =
    serveMode === 'direct'
      ? ['tsx', ['scripts/bench/serve-direct.ts', ...args]]
      : ['wrangler', ['dev', ...args, '--show-interactive-dev-session=false', '--log-level=warn']]
  // Its own process group, so stopping it also stops the workerd it starts.
  return spawn(command, commandArgs, { stdio: ['ignore', log, log], env: { ...quietEnv, ...DEV_SERVER_ENV }, detached: true })
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/**
 * CPU time (user + system, ms) spent so far by the workerd processes of a server's process group:
 * the runtime that runs the worker, its local D1 and its Durable Objects. Linux only (/proc).
 */
export function workerdCpuMs(group: number): number {
  const found = spawnSync('pgrep', ['-g', String(group), '-x', 'workerd'], { encoding: 'utf8' })
  let ticks = 0
  for (const pid of found.stdout.split('\n').filter(Boolean)) {
    try {
      // Fields after the command name (which may hold spaces) start at the state, field 3.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // the process ended
    }
  }
  return (ticks * 1000) / CLOCK_TICKS
}

async function stopProcess(child: ChildProcess) {
  if (child.exitCode !== null || child.pid === undefined) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  process.kill(-child.pid, 'SIGTERM')
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
  if (child.exitCode === null) process.kill(-child.pid, 'SIGKILL')
}

/**
 * A run's scratch directory and the `wrangler dev` serving from it. `wrangler dev` runs in its own
 * process group, so nothing takes it down with this process: every scratch still held when this
 * process exits (an error, Ctrl-C, a timeout's SIGTERM) has its process group killed and its
 * directory removed, so no workerd keeps the pinned core and no seeded database stays in memory.
 */
type Scratch = { dir: string; child?: ChildProcess }
const held = new Set<Scratch>()
let cleansUpOnExit = false

function abandonAll() {
  for (const { dir, child } of held) {
    if (child?.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true })
  }
  held.clear()
}

function newScratch(prefix: string): Scratch {
  if (!cleansUpOnExit) {
    cleansUpOnExit = true
    process.on('exit', abandonAll)
    // Exiting runs the 'exit' handler; the default for these signals would skip it.
    process.on('SIGINT', () => process.exit(130))
    process.on('SIGTERM', () => process.exit(143))
  }
  const scratch = { dir: mkdtempSync(join(scratchRoot(), prefix)) }
  held.add(scratch)
  return scratch
}

async function release(scratch: Scratch) {
  held.delete(scratch)
  if (scratch.child) await stopProcess(scratch.child)
  rmSync(scratch.dir, { recursive: true, force: true })
}

/** Serves with `wrangler dev` from the scratch until `readyPath` answers, then pins its workerd. */
async function serve(scratch: Scratch, args: string[] | ((port: number) => string[]), readyPath: string) {
  const port = await freePort()
  const logFile = join(scratch.dir, 'wrangler.log')
  const child = startServer(['--port', String(port), ...(typeof args === 'function' ? args(port) : args)], logFile)
  scratch.child = child
  const baseUrl = `http://127.0.0.1:${port}`
  try {
    await waitUntilServing(`${baseUrl}${readyPath}`, child, logFile)
  } catch (error) {
    // The directory stays, so the log the error points to can be read.
    held.delete(scratch)
    await stopProcess(child)
    throw error
  }
  pinWorkerd(child.pid!)
  return { baseUrl, cpuMs: () => workerdCpuMs(child.pid!), stop: () => release(scratch) }
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
 */
export async function deploy(count: number, options: { assets: boolean }): Promise<Deployment> {
  const scratch = newScratch('edge-users-bench-')
  const persistTo = join(scratch.dir, 'state')
  await run('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo], {
    stdio: 'ignore',
    env: { ...quietEnv, CI: 'true' },
  })
  const deepCursor = await seed(persistTo, count)

  const envFile = join(scratch.dir, 'bench.env')
  writeFileSync(envFile, `JWT_PRIVATE_KEYS='${JSON.stringify([await generateSigningKey()])}'\n`)
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
    '--var',
    `PBKDF2_ITERATIONS:${ITERATIONS}`,
    ...extra,
  ]
  const served = await serve(scratch, args([]), '/api/v1/health')
  const metered = async () => {
    if (scratch.child) await stopProcess(scratch.child)
    return serve(scratch, args(['--var', 'REPORT_D1_USAGE:true']), '/api/v1/health')
  }
  return { ...served, users: count, deepCursor, persistTo, metered }
}

export type TableStorage = { table: string; rows: number; bytesPerRow: number }

/** The API's tables (not D1's or Drizzle's own), whose size per row the capacity model needs. */
const APP_TABLES = ['users', 'sessions', 'spent_refresh_tokens', 'audit_events', 'mail_jobs', 'mail_tokens']

/**
 * The bytes each table's rows take in the local D1 (a SQLite file), with their indexes, per row:
 * from SQLite's dbstat, which D1 does not offer but the file read directly does.
 */
export function storageByTable(persistTo: string): TableStorage[] {
  const dir = join(persistTo, 'v3', 'd1', 'miniflare-D1DatabaseObject')
  const file = readdirSync(dir).find((name) => name.endsWith('.sqlite') && name !== 'metadata.sqlite')
  if (!file) throw new Error(`no D1 database under ${dir}`)
  const db = new DatabaseSync(join(dir, file), { readOnly: true })
  try {
    const pages = db
      .prepare('SELECT s.tbl_name AS tbl, SUM(d.pgsize) AS bytes FROM dbstat d JOIN sqlite_schema s ON s.name = d.name GROUP BY s.tbl_name')
      .all() as {
      tbl: string
      bytes: number
    }[]
    return APP_TABLES.map((table) => {
      const { rows } = db.prepare(`SELECT COUNT(*) AS rows FROM "${table}"`).get() as { rows: number }
      const bytes = pages.find((page) => page.tbl === table)?.bytes ?? 0
      return { table, rows, bytesPerRow: rows > 0 ? bytes / rows : NaN }
    })
  } finally {
    db.close()
  }
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
