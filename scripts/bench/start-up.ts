/**
 * What the worker costs before it serves anything: its bundle as `wrangler deploy --dry-run`
 * reports it (the size the platform takes and caps), and its start-up, measured as a fresh
 * isolate's first request minus a warm one's, in the local engine: wrangler 4.164's dry run
 * prints no start-up figure of the platform's.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { capture } from '../lib/run.ts'

/** Issue 29's target for the compressed bundle. */
export const BUNDLE_TARGET_GZIP_KB = 400

export type Bundle = {
  upload_kib: number
  gzip_kib: number
  /** The gzip size in the target's unit (1 KB = 1000 bytes; wrangler prints KiB). */
  gzip_kb: number
  target_gzip_kb: number
  verdict: 'met' | 'missed'
}

/** Builds the worker as a deploy would (nothing is uploaded) and reads the sizes wrangler prints. */
export async function bundleSize(): Promise<Bundle> {
  const outdir = mkdtempSync(join(tmpdir(), 'edge-users-bundle-'))
  try {
    const printed = await capture('wrangler', ['deploy', '--dry-run', '--outdir', outdir])
    const sizes = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(printed)
    if (!sizes) throw new Error('wrangler deploy --dry-run printed no "Total Upload: … / gzip: …" line')
    const gzipKib = Number(sizes[2])
    const gzipKb = Math.round(gzipKib * 1.024 * 100) / 100
    return {
      upload_kib: Number(sizes[1]),
      gzip_kib: gzipKib,
      gzip_kb: gzipKb,
      target_gzip_kb: BUNDLE_TARGET_GZIP_KB,
      verdict: gzipKb <= BUNDLE_TARGET_GZIP_KB ? 'met' : 'missed',
    }
  } finally {
    rmSync(outdir, { recursive: true, force: true })
  }
}

export type StartUp = { first_ms: number; warm_p50_ms: number; start_up_ms: number; warm_requests: number }

const WARM_REQUESTS = 9
const IDLE_POLL_MS = 250
const IDLE_POLLS = 4
const IDLE_WAIT_MS = 20_000

/**
 * Waits until the engine has gone quiet (its CPU unmoved over IDLE_POLLS polls). Its ready line
 * comes before it has finished starting: a request sent at once waited about 470 ms more here,
 * one sent 3 s later about 10 ms. Only the second is the worker's own start-up.
 */
export async function untilIdle(cpuMs: () => number) {
  const deadline = Date.now() + IDLE_WAIT_MS
  let last = cpuMs()
  let quiet = 0
  while (quiet < IDLE_POLLS && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, IDLE_POLL_MS))
    const now = cpuMs()
    quiet = now === last ? quiet + 1 : 0
    last = now
  }
}

/** One GET on a connection of its own, so the first and the warm requests pay the same connection set-up. */
function timedGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = request(url, { agent: false }, (response) => {
      response.resume()
      response.on('end', () =>
        response.statusCode === 200 ? resolve(performance.now() - started) : reject(new Error(`${url} answered ${response.statusCode}`)),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

/** A freshly served worker's first `hello`, then the median of the next few. */
export async function startUpOf(baseUrl: string): Promise<StartUp> {
  const url = `${baseUrl}/api/v1/hello`
  const first = await timedGet(url)
  const warm: number[] = []
  for (let i = 0; i < WARM_REQUESTS; i++) warm.push(await timedGet(url))
  warm.sort((a, b) => a - b)
  const median = warm[Math.floor(warm.length / 2)]!
  const round = (ms: number) => Math.round(ms * 100) / 100
  return { first_ms: round(first), warm_p50_ms: round(median), start_up_ms: round(first - median), warm_requests: WARM_REQUESTS }
}
