/**
 * The measuring: the targets (the API's endpoints, the floor worker's routes, the peers'), the
 * interleaved latency rounds and the throughput runs, the rows pass, start-up and `--scale`.
 */
import { BENCH_PASSWORD, ITERATIONS, storageByTable } from './database.ts'
import {
  BATCH_STATEMENTS,
  DERIVES_PER_REQUEST,
  FLOOR_D1,
  FLOOR_D1_BATCH,
  FLOOR_D1_SESSION,
  FLOOR_DERIVE,
  FLOOR_DERIVE_MANY,
  FLOOR_NOOP,
  PEER_HELLO,
  PEER_SESSION,
  PEER_SIGNIN,
  SCALE_USERS,
  SCALED,
} from './declared-ratios.ts'
import { type Deployment, deploy, deployFloor } from './deploy.ts'
import { type EndpointPools, endpoints } from './endpoints.ts'
import { type Measurement, merge, type RequestSpec, run, type Sample, sendOnce, summarise } from './load.ts'
import { deployOAuthPeer, installOAuthPeer, type OAuthPeer, oauthPeerEndpoints } from './oauth-peer.ts'
import type { BenchOptions } from './options.ts'
import { deployPeer, installPeer, PEER_USERS, peerEmail } from './peer.ts'
import { pinLoadGenerator } from './pinning.ts'
import { canServeCold, type Served } from './processes.ts'
import { bundleSize, type StartUp, startUpOf, untilIdle } from './start-up.ts'

/** Latency is measured in this many interleaved slices, so drift in the machine hits every endpoint alike. */
export const ROUNDS = 5

export type Row = { name: string; latency: Measurement; throughput: Measurement; cpuMsPerRequest: number }
type Target = { name: string; baseUrl: string; spec: RequestSpec; cpuMs?: () => number }

/** The floor worker's routes; their throughput is not measured (the rounds' own sample stands in). */
function floorTargets({ baseUrl }: Served): Target[] {
  return [
    { name: FLOOR_DERIVE, baseUrl, spec: { path: '/pbkdf2?n=1' } },
    { name: FLOOR_DERIVE_MANY, baseUrl, spec: { path: `/pbkdf2?n=${DERIVES_PER_REQUEST}` } },
    { name: FLOOR_NOOP, baseUrl, spec: { path: '/noop' } },
    { name: FLOOR_D1, baseUrl, spec: { path: '/d1' } },
    { name: FLOOR_D1_SESSION, baseUrl, spec: { path: '/d1-session' } },
    { name: FLOOR_D1_BATCH, baseUrl, spec: { path: `/d1-batch?n=${BATCH_STATEMENTS}` } },
  ]
}

/** Better Auth's counterparts of hello, login and me. */
function peerTargets(peer: Served & { sessionCookie: string }): Target[] {
  let signins = 0
  const { baseUrl, cpuMs } = peer
  return [
    { name: PEER_HELLO, baseUrl, spec: { path: '/hello' }, cpuMs },
    {
      name: PEER_SIGNIN,
      baseUrl,
      spec: {
        method: 'POST',
        path: '/api/auth/sign-in/email',
        body: () => JSON.stringify({ email: peerEmail(signins++ % PEER_USERS), password: BENCH_PASSWORD }),
      },
      cpuMs,
    },
    { name: PEER_SESSION, baseUrl, spec: { path: '/api/auth/get-session', headers: { cookie: peer.sessionCookie } }, cpuMs },
  ]
}

/** workers-oauth-provider's counterparts of the OpenID Provider's code exchange and refresh. */
async function oauthPeerTargets(peer: OAuthPeer): Promise<Target[]> {
  return (await oauthPeerEndpoints(peer)).map(({ name, spec }) => ({ name, baseUrl: peer.baseUrl, spec, cpuMs: peer.cpuMs }))
}

/** The API's endpoints to measure: in the timed rounds, all but the rows pass's own (`rowsOnly`). */
async function targetsOf(pools: EndpointPools, deployment: Deployment, only?: string[], pass: 'timed' | 'rows' = 'timed') {
  return (await endpoints(pools, deployment, only))
    .filter(({ name, spec }) => (!only || only.includes(name)) && (pass === 'rows' || !spec.rowsOnly))
    .map(({ name, spec }) => ({ name, baseUrl: deployment.baseUrl, spec, cpuMs: deployment.cpuMs }))
}

/**
 * Latency at concurrency 1 in interleaved slices (each endpoint gets options.seconds / ROUNDS per round,
 * in turn), then throughput at concurrency 8, one endpoint at a time.
 */
async function measureAll(options: BenchOptions, targets: Target[]): Promise<Row[]> {
  // A pool of single-use credentials is filled before each run, so neither its time nor its CPU is the run's.
  const prepareAndRun = async (baseUrl: string, spec: RequestSpec, connections: number, seconds: number) => {
    await spec.credentials?.prepare({ connections, seconds })
    return run(baseUrl, spec, connections, seconds)
  }
  // Unrecorded, so no endpoint pays for a cold isolate, cold caches or the JIT.
  for (const { baseUrl, spec } of targets) await prepareAndRun(baseUrl, spec, 2, options.warmUpSeconds)
  const latency = new Map<string, Sample>()
  for (let round = 1; round <= ROUNDS; round++) {
    process.stderr.write(`  latency, round ${round} of ${ROUNDS}\n`)
    for (const { name, baseUrl, spec } of targets) {
      latency.set(name, merge(latency.get(name), await prepareAndRun(baseUrl, spec, 1, options.seconds / ROUNDS)))
    }
  }
  const rows: Row[] = []
  for (const { name, baseUrl, spec, cpuMs } of targets) {
    const floorRow = name.startsWith('floor:')
    if (!floorRow) await spec.credentials?.prepare({ connections: 8, seconds: options.seconds })
    const cpuBefore = cpuMs?.() ?? NaN
    const throughput = floorRow ? latency.get(name)! : await run(baseUrl, spec, 8, options.seconds)
    const summary = summarise(throughput)
    // workerd's CPU over the throughput run, per request: what Workers bills and caps.
    const cpuMsPerRequest = ((cpuMs?.() ?? NaN) - cpuBefore) / summary.requests
    const row = { name, latency: summarise(latency.get(name)!), throughput: summary, cpuMsPerRequest }
    process.stderr.write(`  ${name}: p50 ${row.latency.p50_ms} ms; ${row.throughput.rps} req/s at concurrency 8\n`)
    rows.push(row)
  }
  return rows
}

/**
 * D1's own account of one request, averaged over the rows pass (queries, rows read and written,
 * query time), and the engine's CPU per request there (sequential requests, the local D1 included).
 */
export type Usage = { queries: number; rows_read: number; rows_written: number; d1_ms: number; cpu_ms: number }
export const USAGE_REQUESTS = 20

function parseUsage(header: string | null): Omit<Usage, 'cpu_ms'> {
  const fields = Object.fromEntries((header ?? '').split('; ').map((pair) => pair.split('=') as [string, string]))
  return {
    queries: Number(fields.queries ?? 0),
    rows_read: Number(fields.rows_read ?? 0),
    rows_written: Number(fields.rows_written ?? 0),
    d1_ms: Number(fields.duration_ms ?? 0),
  }
}

/**
 * The rows pass: the same database served again with REPORT_D1_USAGE on, each endpoint asked
 * USAGE_REQUESTS times in turn, and D1's meta for each answer (the X-D1-Usage header) averaged.
 * Separate from the timed runs, because metering runs each raw() read twice.
 */
async function measureUsage(pools: EndpointPools, deployment: Deployment, only?: string[]): Promise<Map<string, Usage>> {
  process.stderr.write('  rows pass: serving again with REPORT_D1_USAGE=true\n')
  const metered = await deployment.metered()
  const usage = new Map<string, Usage>()
  for (const { name, spec } of await targetsOf(pools, { ...deployment, baseUrl: metered.baseUrl }, only, 'rows')) {
    const total = { queries: 0, rows_read: 0, rows_written: 0, d1_ms: 0 }
    await spec.credentials?.prepare({ connections: 1, requests: USAGE_REQUESTS })
    const cpuBefore = metered.cpuMs()
    for (let i = 0; i < USAGE_REQUESTS; i++) {
      const headers = await sendOnce(metered.baseUrl, `rows pass: ${name}`, spec)
      const one = parseUsage(headers.get('X-D1-Usage'))
      for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += one[key]
    }
    const cpuMs = (metered.cpuMs() - cpuBefore) / USAGE_REQUESTS
    const round = (value: number) => Math.round((value / USAGE_REQUESTS) * 1000) / 1000
    usage.set(name, {
      queries: round(total.queries),
      rows_read: round(total.rows_read),
      rows_written: round(total.rows_written),
      d1_ms: round(total.d1_ms),
      cpu_ms: Math.round(cpuMs * 100) / 100,
    })
  }
  return usage
}

async function withDeployment<T>(options: BenchOptions, users: number, work: (deployment: Deployment) => Promise<T>): Promise<T> {
  process.stderr.write(`Starting the worker on a fresh D1 with ${users} users\n`)
  const deployment = await deploy(users, { assets: options.assets })
  try {
    return await work(deployment)
  } finally {
    await deployment.stop()
  }
}

/**
 * The load generator pinned, and what is measured beside the API: the floor worker and, with
 * --peer, both peers (Better Auth, and workers-oauth-provider), each served on its own.
 */
export async function prepareEnvironment(options: BenchOptions) {
  pinLoadGenerator()
  process.stderr.write('Building the worker as a deploy would (wrangler deploy --dry-run), for its size\n')
  const bundle = await bundleSize()
  process.stderr.write(`Starting the floor worker (PBKDF2 at ${ITERATIONS} iterations, one D1 round trip)\n`)
  const floor = await deployFloor()
  if (options.peer) {
    await installPeer()
    await installOAuthPeer()
  }
  const peer = options.peer ? await deployPeer() : undefined
  const oauthPeer = options.peer ? await deployOAuthPeer() : undefined
  return {
    bundle,
    peer: peer !== undefined,
    floorTargets: floorTargets(floor),
    peerTargets: [...(peer ? peerTargets(peer) : []), ...(oauthPeer ? await oauthPeerTargets(oauthPeer) : [])],
    stop: async () => {
      await floor.stop()
      await peer?.stop()
      await oauthPeer?.stop()
    },
  }
}

/** The API between the floors and the peer in the same rounds, then its rows pass and storage. */
export async function measureRounds(
  options: BenchOptions,
  pools: EndpointPools,
  { floorTargets, peerTargets }: { floorTargets: Target[]; peerTargets: Target[] },
) {
  const only = options.only && [...new Set(['hello', ...options.only])]
  return withDeployment(options, options.users, async (deployment) => {
    const rows = await measureAll(options, [...floorTargets, ...(await targetsOf(pools, deployment, only)), ...peerTargets])
    const startUp = await measureStartUp(deployment)
    const usage = await measureUsage(pools, deployment, only)
    return { rows, startUp, usage, storage: storageByTable(deployment.persistTo) }
  })
}

export const START_UPS = 3

/**
 * The API served again, unasked, START_UPS times: each time, once the engine is idle, its first
 * request against a warm one's; the run with the median start-up is kept (direct mode only).
 */
async function measureStartUp(deployment: Deployment): Promise<StartUp | undefined> {
  if (!canServeCold()) return undefined
  process.stderr.write(`  start-up: serving again ${START_UPS} times, and timing each first hello\n`)
  const runs: StartUp[] = []
  for (let i = 0; i < START_UPS; i++) {
    const cold = await deployment.servedCold()
    await untilIdle(cold.cpuMs)
    runs.push(await startUpOf(cold.baseUrl))
  }
  runs.sort((a, b) => a.start_up_ms - b.start_up_ms)
  return runs[Math.floor(runs.length / 2)]
}

export type ScaleRun = { users: number; rows: Row[] }

/** `--scale`: the scaled endpoints alone, on a fresh database of each size. */
export async function measureScale(options: BenchOptions, pools: EndpointPools): Promise<ScaleRun[]> {
  const runs: ScaleRun[] = []
  for (const users of SCALE_USERS)
    runs.push({ users, rows: await withDeployment(options, users, async (d) => measureAll(options, await targetsOf(pools, d, SCALED))) })
  return runs
}
