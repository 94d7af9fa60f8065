/**
 * `npm run tour:check`: runs the curl tours, the README's first look and then the full one in
 * docs/tour.md, against one fresh `npm run dev`, and fails if any step answers another status than
 * its page shows, so neither page can drift from the API.
 *
 * The tours run in a scratch copy of the project (its own local database and .dev.vars, this
 * checkout's node_modules), so a developer's own dev data is never touched. Its .dev.vars holds
 * the output of `npm run -s keys:generate` as it is, the way the deploy steps store the secret.
 * After the tours it checks that `npm run mails` shows the latest mail's link, that `db:reset` refuses while that server runs, that `npm run upkeep`
 * sends that server the scheduled event, and, once it stopped, that `npm run upkeep` starts its own
 * server to run the daily upkeep on the tours' database.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { newSecretKey } from '../src/auth/keys.ts'
import { type DevServer, scratchCopy, startDevServer } from './lib/dev-server.ts'
import { quietEnv } from './lib/run.ts'

/** In the order a reader meets them; the README's users differ from the full tour's, so both run on one database. */
const TOURS = ['README.md', 'docs/tour.md']
const TOUR_START = '<!-- tour -->'
const TOUR_END = '<!-- /tour -->'
const EXPECTED = /#→ (\d{3})\b/g
const PRINTED = /(?:^| )(\d{3})$/

function tourScript(file: string): string {
  const page = readFileSync(file, 'utf8')
  const start = page.indexOf(TOUR_START)
  const end = page.indexOf(TOUR_END)
  if (start < 0 || end < start) throw new Error(`${file} has no ${TOUR_START} … ${TOUR_END} section`)
  const blocks = [...page.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1])
  if (blocks.length === 0) throw new Error(`the tour section of ${file} has no sh code block`)
  return blocks.join('\n')
}

/** Runs one page's tour in bash against the server on `port`: its steps, and how many failed. */
function runTour(file: string, dir: string, port: string): { steps: number; failed: number } {
  const script = tourScript(file)
  const expected = [...script.matchAll(EXPECTED)].map((match) => Number(match[1]))
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
  let failed = 0
  const steps = Math.max(expected.length, printed.length)
  for (let i = 0; i < steps; i++) {
    const ok = expected[i] === printed[i]
    if (!ok) failed++
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${file} step ${i + 1}: page ${expected[i] ?? '(none)'}, API ${printed[i] ?? '(none)'}`)
  }
  if (run.status !== 0 || failed > 0) {
    failed ||= 1
    console.log(`\nWhat the tour of ${file} printed:\n${run.stdout}${run.stderr}`)
  }
  return { steps: expected.length, failed }
}

const dir = scratchCopy()
let failures = 0
let tourSteps = 0

const keys = spawnSync('npm', ['run', '-s', 'keys:generate'], { cwd: dir, encoding: 'utf8', env: quietEnv })
if (keys.status !== 0) throw new Error('npm run -s keys:generate failed')
writeFileSync(join(dir, '.dev.vars'), `JWT_PRIVATE_KEYS='${keys.stdout.trim()}'\nSECRET_KEY='${newSecretKey()}'\n`)
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

let server: DevServer | undefined
try {
  server = await startDevServer(dir)
  const port = new URL(server.base).port
  for (const file of TOURS) {
    const { steps, failed } = runTour(file, dir, port)
    tourSteps += steps
    failures += failed
  }

  // The tour's last signup mailed hedy a verification link: npm run mails finds it on the server.
  const mails = spawnSync('npm', ['run', '-s', 'mails', '--', '--to', 'hedy@example.com'], { cwd: dir, encoding: 'utf8', env: quietEnv })
  const listed =
    mails.status === 0 &&
    /to hedy@example\.com\n {2}Confirm your email address for edge-users\n {2}http:\/\/localhost:\d+\/verify-email#token=/.test(
      mails.stdout,
    )
  if (!listed) failures++
  console.log(
    `${listed ? 'ok  ' : 'FAIL'} npm run mails lists the latest mail with its link${listed ? '' : `\n${mails.stdout}${mails.stderr}`}`,
  )

  const reset = spawnSync('npm', ['run', '-s', 'db:reset'], { cwd: dir, encoding: 'utf8', env: quietEnv })
  const refused = reset.status !== 0 && /in use by a running dev server/.test(reset.stderr)
  if (!refused) failures++
  console.log(`${refused ? 'ok  ' : 'FAIL'} db:reset refuses while the dev server runs`)

  const viaServer = spawnSync('npm', ['run', '-s', 'upkeep'], { cwd: dir, encoding: 'utf8', env: quietEnv, timeout: 60_000 })
  const sent = viaServer.status === 0 && /Upkeep done by the running dev server/.test(viaServer.stdout)
  // spawnSync held this process's event loop: the server's log line may not have been read yet.
  const deadline = Date.now() + 10_000
  while (!/"event":"upkeep\.done"/.test(server.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100))
  const ran = /"event":"upkeep\.done"/.test(server.output())
  if (!sent || !ran) failures++
  console.log(
    `${sent && ran ? 'ok  ' : 'FAIL'} npm run upkeep sends the scheduled event to the running dev server${sent && ran ? '' : `\n${viaServer.stdout}${viaServer.stderr}`}`,
  )
} catch (error) {
  failures++
  console.log(`FAIL ${(error as Error).message}`)
}
server?.stop()

const upkeep = spawnSync('npm', ['run', '-s', 'upkeep'], { cwd: dir, encoding: 'utf8', env: quietEnv, timeout: 180_000 })
const upkept = upkeep.status === 0 && /Upkeep done: .*sessions: \d+/s.test(upkeep.stdout)
if (!upkept) failures++
console.log(
  `${upkept ? 'ok  ' : 'FAIL'} npm run upkeep with no dev server running starts one and runs the scheduled handler${upkept ? '' : `\n${upkeep.stdout}${upkeep.stderr}`}`,
)
console.log(failures === 0 ? `\nThe tours match the API (${tourSteps} steps).` : `\n${failures} tour check(s) failed.`)
process.exit(failures === 0 ? 0 : 1)
