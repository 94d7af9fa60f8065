/**
 * Knows whether a local dev server is using the local D1 database, so `db:reset` never reports a
 * reset that the running server would not see (it keeps the old database open until it restarts),
 * and finds this checkout's running dev server, so `upkeep` can send it the scheduled event instead
 * of starting a second server on the same database.
 */
import { spawn, spawnSync } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseEnv } from 'node:util'
import { quietEnv } from './run.ts'

export const LOCAL_D1_DIR = resolve('.wrangler/state/v3/d1')
const MARK = resolve('.wrangler/dev-server.pid')
/** Where wrangler dev listens unless told otherwise: 8787, or the next free one of the ten after it. */
const WRANGLER_PORTS = Array.from({ length: 11 }, (_, i) => 8787 + i)

type Mark = { pid: number; port: number | undefined }

/** `npm run dev` leaves its process id here while it runs, and its port when its arguments name one. */
export function markDevServer(port: number | undefined) {
  writeFileSync(MARK, JSON.stringify({ pid: process.pid, port }))
  process.on('exit', () => rmSync(MARK, { force: true }))
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The mark of a live `npm run dev`; a bare number is the mark of one started before ports were recorded. */
function liveMark(): Mark | undefined {
  if (!existsSync(MARK)) return undefined
  let mark: unknown
  try {
    mark = JSON.parse(readFileSync(MARK, 'utf8'))
  } catch {
    return undefined
  }
  const { pid, port } = typeof mark === 'number' ? { pid: mark, port: undefined } : (mark as Partial<Mark>)
  if (!Number.isInteger(pid) || !alive(pid!)) return undefined
  return { pid: pid!, port: Number.isInteger(port) ? port : undefined }
}

/** Processes (on Linux, any wrangler or workerd; elsewhere the one `npm run dev` marked) holding the local database. */
export function devServersUsingLocalD1(): number[] {
  const found = new Set<number>()
  const mark = liveMark()
  if (mark) found.add(mark.pid)
  for (const pid of linuxProcesses()) {
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue // another user's process, or one that just ended
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(`${LOCAL_D1_DIR}/`)) {
          found.add(pid)
          break
        }
      } catch {
        // the descriptor closed while we looked
      }
    }
  }
  return [...found]
}

function linuxProcesses(): number[] {
  if (!existsSync('/proc')) return []
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
}

function readProc(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8')
  } catch {
    return ''
  }
}

/**
 * On Linux, the ports the local database's holders serve on. wrangler dev runs two workerd
 * processes side by side: the one holding the database, and the proxy in front of it whose
 * command line names the public address (`--socket-addr=entry=localhost:8787`).
 */
function portsOfHolders(holders: number[]): number[] {
  // /proc/<pid>/stat: "pid (name) state ppid …", where the name may itself hold ") ".
  const parentOf = (pid: number) => {
    const stat = readProc(pid, 'stat')
    return Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[1])
  }
  const parents = new Set(holders.map(parentOf).filter((pid) => pid > 1))
  const ports: number[] = []
  for (const pid of linuxProcesses()) {
    if (!parents.has(parentOf(pid))) continue
    const port = /--socket-addr=entry=\S*:(\d+)/.exec(readProc(pid, 'cmdline').replaceAll('\0', ' '))?.[1]
    if (port && port !== '0') ports.push(Number(port))
  }
  return ports
}

/** The public halves (`x`) of the signing keys in this checkout's .dev.vars. */
function devSigningKeys(): Set<string> {
  if (!existsSync('.dev.vars')) return new Set()
  try {
    const keys = JSON.parse(parseEnv(readFileSync('.dev.vars', 'utf8')).JWT_PRIVATE_KEYS ?? '[]') as { x?: unknown }[]
    return new Set(keys.map((key) => key.x).filter((x): x is string => typeof x === 'string'))
  } catch {
    return new Set()
  }
}

/**
 * Whether `base` is this checkout's API, up and healthy: its health says ok and its JWKS publishes a
 * key from this checkout's .dev.vars. Another checkout's dev server (on the default port, say) has
 * keys of its own, so its database is never the one upkept.
 */
async function servesThisCheckout(base: string, keys: Set<string>): Promise<boolean> {
  const signal = AbortSignal.timeout(5000)
  try {
    const health = await fetch(`${base}/api/v1/health`, { signal })
    if (health.status !== 200 || ((await health.json()) as { status?: unknown }).status !== 'ok') return false
    const jwks = (await (await fetch(`${base}/.well-known/jwks.json`, { signal })).json()) as { keys?: { x?: unknown }[] }
    return jwks.keys?.some((key) => typeof key.x === 'string' && keys.has(key.x)) ?? false
  } catch {
    return false // nothing listens there, or something that is not this API
  }
}

/**
 * This checkout's running dev server, looked for where it can be: the port `npm run dev` recorded,
 * the ports the local database's holders serve on (Linux), then wrangler's default ports.
 */
export async function findRunningDevServer(): Promise<{ base: string } | undefined> {
  const keys = devSigningKeys()
  if (keys.size === 0) return undefined // npm run dev writes a key before it starts wrangler
  const ports = new Set([liveMark()?.port, ...portsOfHolders(devServersUsingLocalD1()), ...WRANGLER_PORTS])
  for (const port of ports) {
    if (port === undefined) continue
    const base = `http://localhost:${port}`
    if (await servesThisCheckout(base, keys)) return { base }
  }
  return undefined
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolvePort(port))
    })
  })
}

export type DevServer = { base: string; output: () => string; stop: () => void }

/**
 * `npm run dev` in `cwd` on free ports, in its own process group so stop() ends wrangler and
 * workerd together; resolves once it serves /api/v1/hello.
 */
export async function startDevServer(cwd: string, extraArgs: string[] = [], chosenPort?: number): Promise<DevServer> {
  const port = chosenPort ?? (await freePort())
  const args = ['run', 'dev', '--', '--port', String(port), '--inspector-port', String(await freePort()), ...extraArgs]
  const server = spawn('npm', args, { cwd, env: { ...quietEnv, CI: 'true' }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let output = ''
  server.stdout.on('data', (chunk: Buffer) => (output += chunk))
  server.stderr.on('data', (chunk: Buffer) => (output += chunk))
  const stop = () => {
    try {
      process.kill(-server.pid!, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  process.on('exit', stop)
  const base = `http://localhost:${port}`
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`npm run dev exited with ${server.exitCode}:\n${output}`)
    try {
      if ((await fetch(`${base}/api/v1/hello`)).ok) return { base, output: () => output, stop }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300))
  }
  stop()
  throw new Error(`npm run dev did not serve within two minutes:\n${output}`)
}

/** A copy of the files git knows (committed or not, never ignored ones) beside this node_modules. */
export function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edge-users-scratch-'))
  const files = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { encoding: 'utf8' })
  if (files.status !== 0) throw new Error('git ls-files failed: run the tour from a git checkout')
  for (const file of files.stdout.split('\0').filter(Boolean)) {
    try {
      mkdirSync(dirname(join(dir, file)), { recursive: true })
      cpSync(file, join(dir, file))
    } catch {
      // a file deleted in the working tree but not yet in the index
    }
  }
  symlinkSync(resolve('node_modules'), join(dir, 'node_modules'), 'dir')
  // public/ is git-ignored: made as npm install makes it.
  spawnSync('node', ['scripts/docs-assets.mjs'], { cwd: dir, stdio: 'inherit' })
  return dir
}
