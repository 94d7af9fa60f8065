/**
 * The servers a run starts: each in its own scratch directory and process group, on a free port,
 * served `direct` or through `wrangler dev`, waited for, pinned, and taken down (with its scratch)
 * when the run ends, however it ends.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { quietEnv } from '../lib/run.ts'
import { pinWorkerd, workerdCpuMs } from './pinning.ts'

export type Served = {
  baseUrl: string
  cpuMs: () => number
  stop: () => Promise<void>
  /** The inspector's port (DevTools protocol), when served with `inspector` (serve's option). */
  inspectorPort?: number
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

function startServer(args: string[], logFile: string): ChildProcess {
  const log = openSync(logFile, 'w')
  const [command, commandArgs] =
    serveMode === 'direct'
      ? ['tsx', ['scripts/bench/serve-direct.ts', ...args]]
      : ['wrangler', ['dev', ...args, '--show-interactive-dev-session=false', '--log-level=warn']]
  // Its own process group, so stopping it also stops the workerd it starts.
  return spawn(command, commandArgs, { stdio: ['ignore', log, log], env: { ...quietEnv, ...DEV_SERVER_ENV }, detached: true })
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

export async function stopProcess(child: ChildProcess) {
  if (child.exitCode !== null || child.pid === undefined) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  process.kill(-child.pid, 'SIGTERM')
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
  if (child.exitCode === null) process.kill(-child.pid, 'SIGKILL')
}

/**
 * Where the local D1 lives during a run: in memory (tmpfs) when the machine has it. Local D1 is
 * SQLite, and on a VM's disk every commit waits milliseconds for fsync: a cost of the dev machine,
 * not of the worker (in production D1 is a remote service). Without tmpfs the figures include it.
 */
const scratchRoot = () => (existsSync('/dev/shm') ? '/dev/shm' : tmpdir())

/**
 * A run's scratch directory and the `wrangler dev` serving from it. `wrangler dev` runs in its own
 * process group, so nothing takes it down with this process: every scratch still held when this
 * process exits (an error, Ctrl-C, a timeout's SIGTERM) has its process group killed and its
 * directory removed, so no workerd keeps the pinned core and no seeded database stays in memory.
 */
export type Scratch = { dir: string; child?: ChildProcess }
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

export function newScratch(prefix: string): Scratch {
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

/** Waits for serve-direct's `ready` line, which it prints before any request has reached the worker. */
async function waitUntilReadyLine(child: ChildProcess, logFile: string) {
  const deadline = Date.now() + 90_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited early; see ${logFile}`)
    if (/^ready /m.test(readFileSync(logFile, 'utf8'))) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`no ready line within 90 s; see ${logFile}`)
}

/** Whether `serve` can be told to wait for the server's own word, leaving the worker's isolate unasked. */
export const canServeCold = () => serveMode === 'direct'

/**
 * How a server is started beyond its arguments. `cold` (direct mode only): waits for the server's
 * ready line instead of an answer, so the worker's first request is still to come. `inspector`:
 * for `npm run profile`, the inspector on a free port and the bundle unminified (readable names
 * and lines); the benchmark never sets it, since an attached inspector is no part of production.
 */
export type ServeOptions = { cold?: boolean; inspector?: boolean }

/** Serves with `wrangler dev` from the scratch until `readyPath` answers (see ServeOptions), then pins its workerd. */
export async function serve(
  scratch: Scratch,
  args: string[] | ((port: number) => string[]),
  readyPath: string,
  options: ServeOptions = {},
): Promise<Served> {
  const port = await freePort()
  const inspectorPort = options.inspector ? await freePort() : undefined
  const inspectorArgs = inspectorPort === undefined ? [] : ['--inspector-port', String(inspectorPort), '--no-minify']
  const logFile = join(scratch.dir, 'wrangler.log')
  const child = startServer(['--port', String(port), ...(typeof args === 'function' ? args(port) : args), ...inspectorArgs], logFile)
  scratch.child = child
  const baseUrl = `http://127.0.0.1:${port}`
  try {
    if (options.cold && canServeCold()) await waitUntilReadyLine(child, logFile)
    else await waitUntilServing(`${baseUrl}${readyPath}`, child, logFile)
  } catch (error) {
    // The directory stays, so the log the error points to can be read.
    held.delete(scratch)
    await stopProcess(child)
    throw error
  }
  pinWorkerd(child.pid!)
  return { baseUrl, cpuMs: () => workerdCpuMs(child.pid!), stop: () => release(scratch), inspectorPort }
}
