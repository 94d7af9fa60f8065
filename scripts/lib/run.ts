import { type SpawnOptions, spawn } from 'node:child_process'

/** Wrangler phones home for telemetry by default; these scripts never should. */
export const quietEnv = { ...process.env, WRANGLER_SEND_METRICS: 'false' }

/** Runs a command to completion with inherited output; rejects on a non-zero exit. */
export function run(command: string, args: string[], options: SpawnOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit', env: quietEnv, ...options })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (code === 0) resolve()
      else reject(new Error(`${command} ${args.join(' ')} exited with ${signal ?? code}`))
    })
  })
}

/** Runs a command (in `options.cwd`, or here) and returns what it printed on stdout. */
export function capture(command: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], env: quietEnv, cwd: options.cwd })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.on('error', reject)
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} exited with ${code}`))))
  })
}

/** Runs a command to completion; resolves with its exit code and its stdout and stderr together, in order. */
function collect(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ exit: number | string | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ exit: signal ?? code, output }))
  })
}

const MIGRATE_ARGS = ['d1', 'migrations', 'apply', 'DB', '--local']

/**
 * Applies the local D1 migrations and says so in one line. `wrangler d1 migrations apply` prints
 * the whole migration table again after each migration it applies (over 400 lines for a fresh
 * database), so its output is kept back and printed, as it is, only when it fails. CI=true answers
 * its "continue?" with yes, as a person at the prompt would.
 */
export async function migrateLocal(): Promise<void> {
  const { exit, output } = await collect('wrangler', MIGRATE_ARGS, { ...quietEnv, CI: 'true' })
  // ❌ is the mark wrangler's table gives a migration that failed.
  if (exit !== 0 || output.includes('\u274C')) {
    process.stderr.write(output)
    throw new Error(
      `wrangler ${MIGRATE_ARGS.join(' ')} failed (exit ${exit}): the local database is not fully migrated (its output is above)`,
    )
  }
  const applied = Number(/About to apply (\d+) migration/.exec(output)?.[1] ?? 0)
  if (applied > 0) console.log(`Applied ${applied} migration${applied === 1 ? '' : 's'} to the local database.`)
  else if (/No migrations to apply/.test(output)) console.log('The local database is up to date.')
  // Neither sentence: a wrangler that words its report otherwise. Its own words, then, rather than a guess.
  else process.stdout.write(output)
}
