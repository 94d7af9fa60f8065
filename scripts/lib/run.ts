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

export const migrateLocal = () => run('wrangler', ['d1', 'migrations', 'apply', 'DB', '--local'], { env: { ...quietEnv, CI: 'true' } })
