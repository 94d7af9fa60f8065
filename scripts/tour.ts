/**
 * `npm run tour:check`: runs the README's curl tour against a fresh `npm run dev` and fails if any
 * step answers another status than the README shows, so the README cannot drift from the API.
 *
 * The tour runs in a scratch copy of the project (its own local database and .dev.vars, this
 * checkout's node_modules), so a developer's own dev data is never touched. Its .dev.vars holds
 * the output of `npm run -s keys:generate` as it is, the way the deploy steps store the secret.
 * After the tour it checks that `db:reset` refuses while that server runs.
 */
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { quietEnv } from './lib/run.ts'

const TOUR_START = '<!-- tour -->'
const TOUR_END = '<!-- /tour -->'
const EXPECTED = /#→ (\d{3})\b/g
const PRINTED = /(?:^| )(\d{3})$/

function tourScript(readme: string): string {
  const start = readme.indexOf(TOUR_START)
  const end = readme.indexOf(TOUR_END)
  if (start < 0 || end < start) throw new Error(`README.md has no ${TOUR_START} … ${TOUR_END} section`)
  const blocks = [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1])
  if (blocks.length === 0) throw new Error('the tour section has no sh code block')
  return blocks.join('\n')
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolvePort(port))
    })
  })
}

/** A copy of the files git knows (committed or not, never ignored ones) beside this node_modules. */
function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edge-users-tour-'))
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
  return dir
}

async function waitUntilServing(base: string, server: { exitCode: number | null }) {
  const deadline = Date.now() + 120_000
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`npm run dev exited with ${server.exitCode}`)
    try {
      if ((await fetch(`${base}/api/v1/hello`)).ok) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 300))
  }
  throw new Error('npm run dev did not serve within two minutes')
}

const script = tourScript(readFileSync('README.md', 'utf8'))
const expected = [...script.matchAll(EXPECTED)].map((match) => Number(match[1]))
const dir = scratchCopy()
const port = await freePort()
const base = `http://localhost:${port}`
let failures = 0

const keys = spawnSync('npm', ['run', '-s', 'keys:generate'], { cwd: dir, encoding: 'utf8', env: quietEnv })
if (keys.status !== 0) throw new Error('npm run -s keys:generate failed')
writeFileSync(join(dir, '.dev.vars'), `JWT_PRIVATE_KEYS='${keys.stdout.trim()}'\n`)

const server = spawn('npm', ['run', 'dev', '--', '--port', String(port), '--inspector-port', String(await freePort())], {
  cwd: dir,
  env: { ...quietEnv, CI: 'true' },
  stdio: ['ignore', 'pipe', 'pipe'],
  detached: true,
})
let serverLog = ''
server.stdout.on('data', (chunk: Buffer) => (serverLog += chunk))
server.stderr.on('data', (chunk: Buffer) => (serverLog += chunk))
const stopServer = () => {
  try {
    process.kill(-server.pid!, 'SIGTERM')
  } catch {
    // already gone
  }
}
process.on('exit', () => {
  stopServer()
  rmSync(dir, { recursive: true, force: true })
})

try {
  await waitUntilServing(base, server)
  const run = spawnSync('bash', ['-c', `set -uo pipefail\n${script.replaceAll('localhost:8787', `localhost:${port}`)}`], {
    cwd: dir,
    encoding: 'utf8',
    env: quietEnv,
    timeout: 300_000,
  })
  const printed = run.stdout
    .split('\n')
    .map((line) => PRINTED.exec(line)?.[1])
    .filter((status): status is string => status !== undefined)
    .map(Number)
  const steps = Math.max(expected.length, printed.length)
  for (let i = 0; i < steps; i++) {
    const ok = expected[i] === printed[i]
    if (!ok) failures++
    console.log(`${ok ? 'ok  ' : 'FAIL'} step ${i + 1}: README ${expected[i] ?? '(none)'}, API ${printed[i] ?? '(none)'}`)
  }
  if (run.status !== 0 || failures > 0) {
    failures ||= 1
    console.log(`\nWhat the tour printed:\n${run.stdout}${run.stderr}`)
  }

  const reset = spawnSync('npm', ['run', '-s', 'db:reset'], { cwd: dir, encoding: 'utf8', env: quietEnv })
  const refused = reset.status !== 0 && /in use by a running dev server/.test(reset.stderr)
  if (!refused) failures++
  console.log(`${refused ? 'ok  ' : 'FAIL'} db:reset refuses while the dev server runs`)
} catch (error) {
  failures++
  console.log(`FAIL ${(error as Error).message}\n${serverLog}`)
}
stopServer()
console.log(failures === 0 ? `\nThe README tour matches the API (${expected.length} steps).` : `\n${failures} tour check(s) failed.`)
process.exit(failures === 0 ? 0 : 1)
