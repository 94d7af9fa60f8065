/**
 * `npm run dev`: applies the local D1 migrations, writes .dev.vars with a fresh signing key when it
 * has none, then starts `wrangler dev --test-scheduled` with any extra arguments
 * (`npm run dev -- --port 8788`).
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { generateRsaSigningKey, generateSigningKey, newSecretKey } from '../src/auth/keys.ts'
import { markDevServer } from './lib/dev-server.ts'
import { migrateLocal, quietEnv, run } from './lib/run.ts'

const DEV_VARS = '.dev.vars'

/** Adds what .dev.vars lacks of the required secrets: a signing key, the worker's secret key. */
async function ensureDevVars() {
  const current = existsSync(DEV_VARS) ? readFileSync(DEV_VARS, 'utf8') : ''
  const lines: string[] = []
  if (!/^\s*JWT_PRIVATE_KEYS\s*=/m.test(current)) {
    const [key, rsa] = await Promise.all([generateSigningKey(), generateRsaSigningKey()])
    lines.push(`JWT_PRIVATE_KEYS='${JSON.stringify([key, rsa])}'`)
    console.log(`Wrote new development signing keys (Ed25519 ${key.kid}, RSA ${rsa.kid}) to ${DEV_VARS}.`)
  }
  if (!/^\s*SECRET_KEY\s*=/m.test(current)) {
    lines.push(`SECRET_KEY='${newSecretKey()}'`)
    console.log(`Wrote a new development SECRET_KEY to ${DEV_VARS}.`)
  }
  if (lines.length === 0) return
  const header = current ? '' : '# Local secrets for `wrangler dev`; git-ignored. Production uses `wrangler secret put`.\n'
  writeFileSync(DEV_VARS, `${current}${current && !current.endsWith('\n') ? '\n' : ''}${header}${lines.join('\n')}\n`, { mode: 0o600 })
}

/** The port the arguments name (`--port 8788` or `--port=8788`); without one, wrangler picks it. */
function portArgument(args: string[]): number | undefined {
  for (const [i, arg] of args.entries()) {
    const value = arg === '--port' ? args[i + 1] : arg.startsWith('--port=') ? arg.slice('--port='.length) : undefined
    if (value !== undefined && /^\d+$/.test(value)) return Number(value)
  }
  return undefined
}

const args = process.argv.slice(2)
await ensureDevVars()
// The API reference's assets, in case public/ was removed since npm install made it.
await run('node', ['scripts/docs-assets.mjs'])
await migrateLocal()
const port = portArgument(args)
markDevServer(port)
// --test-scheduled adds the /__scheduled route Cloudflare's docs show for firing the Cron Trigger by
// hand. npm run upkeep uses /cdn-cgi/local/scheduled instead, which waits for the upkeep to finish.
//
// An empty WRANGLER_REGISTRY_PATH leaves this server out of wrangler's dev registry (a directory in
// wrangler's global configuration), where local `wrangler dev` processes find each other's
// workers. This worker binds to no other worker, and its queue's consumer is itself; but a worker
// that consumes a queue watches the registry's queue consumers, and its own entry there is a
// change, on which wrangler prints the whole bindings table a second time, under "Connection status
// updated". Out of the registry, two checkouts' servers (both named edge-users, e.g. tour:check's
// scratch copy and yours) no longer share an entry either.
// PUBLIC_URL is the origin the pages, their cookies and passkeys live on: on another port than
// wrangler.toml's 8787, it follows the port (unless the arguments set it themselves).
const publicUrl =
  port !== undefined && !args.some((arg) => arg.startsWith('PUBLIC_URL:')) ? ['--var', `PUBLIC_URL:http://localhost:${port}`] : []
const wrangler = spawn('wrangler', ['dev', '--test-scheduled', ...args, ...publicUrl], {
  stdio: 'inherit',
  env: { ...quietEnv, WRANGLER_REGISTRY_PATH: '' },
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => wrangler.kill(signal))
wrangler.on('exit', (code) => process.exit(code ?? 0))
