/**
 * `npm run bench -- [--users N] [--quick] [--scale] [--peer] [--mode direct|wrangler] [--assets] [--seconds S] [--json FILE] [--only hello,login]`
 *
 * Serves the worker in workerd on a fresh local D1 seeded with N users (by default through
 * wrangler's engine with the inspector detached; `--mode wrangler` uses `wrangler dev`), with
 * `--peer` serves two peers beside it the same way (Better Auth, bench/peer; Cloudflare's
 * workers-oauth-provider, bench/oauth-peer), drives each endpoint with autocannon from this
 * process, once at concurrency 1 (latency) and once at
 * concurrency 8 (throughput), measures the floors (hello; one PBKDF2 derivation and one D1 round
 * trip, bare and in a D1 session, in workerd), and prints a Markdown table with the ratios the
 * targets are stated in (RATIOS in bench/declared-ratios.ts). A rows pass then serves the same
 * database with REPORT_D1_USAGE on and prints each endpoint's D1 rows read and written and the
 * cost of a million requests at Cloudflare's published prices.
 *
 * The work is in bench/: endpoints.ts (what is driven), measure.ts (the rounds, the rows pass,
 * start-up and --scale) and report.ts (the Markdown and the JSON).
 */
import { writeFileSync } from 'node:fs'
import { RATIOS } from './bench/declared-ratios.ts'
import { endpointPools } from './bench/endpoints.ts'
import { measureRounds, measureScale, prepareEnvironment } from './bench/measure.ts'
import { type BenchOptions, readBenchOptions } from './bench/options.ts'
import { useServeMode } from './bench/processes.ts'
import { assess } from './bench/ratios.ts'
import { errorsIn, jsonReport, markdownReport, measurementsOf, type Results } from './bench/report.ts'

/** One run, as options asks for it (read from the command line before anything else runs). */
async function main(options: BenchOptions) {
  useServeMode(options.mode)
  const pools = endpointPools()
  const started = Date.now()
  const environment = await prepareEnvironment(options)
  const { rows: measuredRows, startUp, usage, storage } = await measureRounds(options, pools, environment).finally(environment.stop)
  const scale = options.scale ? await measureScale(options, pools) : undefined

  const rows = measuredRows.filter((row) => !row.name.startsWith('floor:'))
  const measured = measurementsOf(measuredRows, scale, environment.peer)
  const ratios = assess(RATIOS, measured)
  const errors = errorsIn([...rows, ...(scale?.flatMap((s) => s.rows) ?? [])])
  const seconds = Math.round((Date.now() - started) / 1000)
  const results: Results = {
    rows,
    bundle: environment.bundle,
    startUp,
    usage,
    storage,
    scale,
    measured,
    ratios,
    errors,
    peer: environment.peer,
    seconds,
  }

  console.log(markdownReport(options, results))
  if (options.json) {
    writeFileSync(options.json, `${JSON.stringify(jsonReport(options, results), null, 2)}\n`)
    process.stderr.write(`Wrote ${options.json}\n`)
  }
  if (errors.errors > 0 || errors.status_5xx > 0) process.exitCode = 1
}

await main(readBenchOptions(process.argv.slice(2)))
