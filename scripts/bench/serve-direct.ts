/**
 * Serves a worker the way the benchmark measures it by default: wrangler's own engine
 * (unstable_startWorker, Miniflare and workerd underneath) with the inspector detached, so no
 * console line is relayed through a dev server, and with the local trace collector off. Run as a
 * child process by environment.ts, with `wrangler dev`'s flags:
 *
 *   serve-direct.ts --config FILE --port N --persist-to DIR [--env-file FILE] [--var NAME:VALUE ...]
 *                   [--inspector-port N] [--no-minify]
 *
 * `--inspector-port` attaches the inspector (DevTools protocol) on that port and `--no-minify`
 * bundles unminified, both for `npm run profile`, whose frames then have readable names and lines;
 * without them the worker is served as the benchmark measures it. Both are also `wrangler dev`'s
 * own flags, so processes.ts passes them the same way in either mode.
 *
 * Prints `ready <url>` once the worker answers, and stops it on SIGTERM.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { unstable_startWorker } from 'wrangler'

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: 'wrangler.toml' },
    port: { type: 'string' },
    'persist-to': { type: 'string' },
    'env-file': { type: 'string' },
    var: { type: 'string', multiple: true, default: [] },
    'inspector-port': { type: 'string' },
    'no-minify': { type: 'boolean', default: false },
  },
})

type Binding = { type: 'plain_text' | 'secret_text'; value: string }
const bindings: Record<string, Binding> = {}
if (values['env-file']) {
  for (const line of readFileSync(values['env-file'], 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)='?(.*?)'?$/.exec(line.trim())
    if (match) bindings[match[1]!] = { type: 'secret_text', value: match[2]! }
  }
}
for (const pair of values.var) {
  const at = pair.indexOf(':')
  bindings[pair.slice(0, at)] = { type: 'plain_text', value: pair.slice(at + 1) }
}

const worker = await unstable_startWorker({
  config: values.config,
  bindings,
  // Over the config's `minify`, as `wrangler dev --no-minify` does (wrangler reads build.minify first).
  ...(values['no-minify'] ? { build: { minify: false } } : {}),
  dev: {
    server: { hostname: '127.0.0.1', port: Number(values.port ?? 0) },
    inspector: values['inspector-port'] ? { hostname: '127.0.0.1', port: Number(values['inspector-port']) } : false,
    persist: values['persist-to'],
    watch: false,
    liveReload: false,
  },
})
await worker.ready
console.log(`ready ${(await worker.url).href}`)
const stop = async () => {
  await worker.dispose()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
