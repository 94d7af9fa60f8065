/**
 * Knows whether a local dev server is using the local D1 database, so `db:reset` never reports a
 * reset that the running server would not see (it keeps the old database open until it restarts).
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
import { quietEnv } from './run.ts'

export const LOCAL_D1_DIR = resolve('.wrangler/state/v3/d1')
const MARK = resolve('.wrangler/dev-server.pid')

/** `npm run dev` leaves its process id here while it runs. */
export function markDevServer() {
  writeFileSync(MARK, String(process.pid))
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

/** Processes (on Linux, any wrangler or workerd; elsewhere the one `npm run dev` marked) holding the local database. */
export function devServersUsingLocalD1(): number[] {
  const found = new Set<number>()
  if (existsSync(MARK)) {
    const pid = Number(readFileSync(MARK, 'utf8'))
    if (Number.isInteger(pid) && alive(pid)) found.add(pid)
  }
  if (existsSync('/proc')) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      let fds: string[]
      try {
        fds = readdirSync(`/proc/${entry}/fd`)
      } catch {
        continue // another user's process, or one that just ended
      }
      for (const fd of fds) {
        try {
          if (readlinkSync(`/proc/${entry}/fd/${fd}`).startsWith(`${LOCAL_D1_DIR}/`)) {
            found.add(Number(entry))
            break
          }
        } catch {
          // the descriptor closed while we looked
        }
      }
    }
  }
  return [...found]
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
export async function startDevServer(cwd: string, extraArgs: string[] = []): Promise<DevServer> {
  const port = await freePort()
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
