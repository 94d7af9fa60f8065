/** The reporting: the Markdown table printed at the end of a run, and the JSON written with `--json`. */
import { cpus, totalmem } from 'node:os'
import { ITERATIONS, type TableStorage } from './database.ts'
import {
  BATCH_STATEMENTS,
  DERIVES_PER_REQUEST,
  FLOOR_D1,
  FLOOR_D1_BATCH,
  FLOOR_D1_SESSION,
  FLOOR_DERIVE,
  FLOOR_DERIVE_MANY,
  FLOOR_NOOP,
  type MeasuredName,
} from './declared-ratios.ts'
import { ROUNDS, type Row, type ScaleRun, START_UPS, USAGE_REQUESTS, type Usage } from './measure.ts'
import { OAUTH_PEER_DIR, oauthPeerLibrary } from './oauth-peer.ts'
import type { BenchOptions } from './options.ts'
import { PEER_USERS } from './peer.ts'
import { pinning } from './pinning.ts'
import { costPerMillion, PLAN, PRICES_READ_ON } from './prices.ts'
import { DEV_SERVER_ENV, describeServeMode } from './processes.ts'
import type { assess, Floors, Group, Measured } from './ratios.ts'
import type { Bundle, StartUp } from './start-up.ts'

const rounded = (ms: number) => Math.round(ms * 1000) / 1000

/** What the ratios are computed from: p50s and throughputs by name, and the floors from the floor worker's rows. */
export function measurementsOf(rows: Row[], scale: ScaleRun[] | undefined, peer: boolean): Measured<MeasuredName> {
  const row = (from: Row[], name: string) => from.find((r) => r.name === name)
  const latency = (name: string) => row(rows, name)?.latency.p50_ms ?? NaN
  // One derivation as a login does it, call overhead included; and the pure per-derivation cost.
  const floors: Floors = {
    pbkdf2_ms: rounded(latency(FLOOR_DERIVE) - latency(FLOOR_NOOP)),
    pbkdf2_amortised_ms: rounded((latency(FLOOR_DERIVE_MANY) - latency(FLOOR_NOOP)) / DERIVES_PER_REQUEST),
    d1_round_trip_ms: rounded(latency(FLOOR_D1) - latency(FLOOR_NOOP)),
    d1_session_round_trip_ms: rounded(latency(FLOOR_D1_SESSION) - latency(FLOOR_NOOP)),
    d1_batch_statement_ms: rounded((latency(FLOOR_D1_BATCH) - latency(FLOOR_D1_SESSION)) / (BATCH_STATEMENTS - 1)),
  }
  const groups: Group[] = ['floors', ...(peer ? (['peer'] as const) : []), ...(scale ? (['scale'] as const) : [])]
  return {
    p50: latency,
    rps: (name) => row(rows, name)?.throughput.rps ?? NaN,
    p50At: (users, name) => row(scale?.find((run) => run.users === users)?.rows ?? [], name)?.latency.p50_ms ?? NaN,
    floors,
    groups,
  }
}

const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a')
const devServerLine = () =>
  Object.entries(DEV_SERVER_ENV)
    .map(([name, value]) => `${name}=${value}`)
    .join(' ')
const machineLine = () =>
  `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`

export type Results = {
  /** The API's and the peers' endpoints (the floor worker's rows are in `measured.floors`). */
  rows: Row[]
  bundle: Bundle
  startUp: StartUp | undefined
  usage: Map<string, Usage>
  storage: TableStorage[]
  scale?: ScaleRun[]
  measured: Measured<MeasuredName>
  ratios: ReturnType<typeof assess<MeasuredName>>
  /** Whether the peers were served (--peer): Better Auth and workers-oauth-provider, always both. */
  peer: boolean
  errors: { errors: number; status_5xx: number }
  seconds: number
}

/** The endpoints measured in the rows pass alone: no timed row of their own. */
const rowsOnly = (rows: Row[], usage: Map<string, Usage>) => [...usage].filter(([name]) => !rows.some((row) => row.name === name))

const costOf = (row: Row, usage: Usage) =>
  costPerMillion({ cpuMs: row.cpuMsPerRequest, rowsRead: usage.rows_read, rowsWritten: usage.rows_written })

function startUpLine(startUp: StartUp | undefined): string {
  if (!startUp)
    return 'Start-up: not measured with --mode wrangler (the dev server gives no sign of readiness before a request reaches the worker).'
  return `Start-up: a freshly served worker's first hello, sent once the engine was idle, took ${fixed(startUp.first_ms)} ms, a warm one ${fixed(startUp.warm_p50_ms)} ms (median of the next ${startUp.warm_requests}, each on a new connection like the first): ${fixed(startUp.start_up_ms)} ms of start-up (the median of ${START_UPS} fresh starts).`
}

/** Which peers were served, and how. */
function peersLine(): string {
  const oauth = oauthPeerLibrary()
  return `Peers, served the same way on the same core: Better Auth (bench/peer) at its defaults, ${PEER_USERS} accounts; and ${oauth.name} ${oauth.version} (${OAUTH_PEER_DIR}) at its defaults on local KV, one user approved without a consent page, one confidential client (client_secret_post), PKCE S256.`
}

export function markdownReport(
  options: BenchOptions,
  { rows, bundle, startUp, usage, storage, measured, ratios, peer, errors, seconds }: Results,
): string {
  const { floors } = measured
  const hello = measured.p50('hello')
  const lines = [
    `## edge-users benchmark: ${options.users} users, ${options.seconds} s per run`,
    '',
    `Machine: ${machineLine()}. Latency at concurrency 1 (${ROUNDS} interleaved rounds), throughput at concurrency 8.`,
    `Mode: ${describeServeMode()}. ${devServerLine()} (wrangler's local request tracing off: it is not part of the worker). Pinned: ${pinning}.`,
    options.assets
      ? 'Static Assets: served (--assets), so the local asset router worker runs in front of every request.'
      : "Static Assets: left out of the served configuration (the local asset router worker would run in front of every request; in production Cloudflare's routing does it, outside the worker's CPU). --assets keeps them.",
    ...(peer ? [peersLine()] : []),
    `Bundle: ${fixed(bundle.upload_kib)} KiB, gzip ${fixed(bundle.gzip_kib)} KiB (${fixed(bundle.gzip_kb)} KB), as \`wrangler deploy --dry-run\` reports it; target ≤ ${bundle.target_gzip_kb} KB gzip: ${bundle.verdict === 'met' ? 'met' : 'MISSED'}.`,
    startUpLine(startUp),
    '',
    '| endpoint | requests | req/s (c=8) | p50 ms (c=1) | p99 ms (c=1) | workerd CPU ms/req (c=8) | errors |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      ({ name, latency, throughput, cpuMsPerRequest }) =>
        `| ${name} | ${latency.requests + throughput.requests} | ${fixed(throughput.rps, 1)} | ${fixed(latency.p50_ms)} | ${fixed(latency.p99_ms)} | ${fixed(cpuMsPerRequest)} | ${latency.errors + throughput.errors} |`,
    ),
    '',
    `Floors: hello p50 ${fixed(hello)} ms; one PBKDF2 derivation (${ITERATIONS} iterations) in workerd ${fixed(floors.pbkdf2_ms)} ms (a bare worker's p50 for one derivation minus its p50 for a no-op, in the same rounds; ${fixed(floors.pbkdf2_amortised_ms)} ms each when ${DERIVES_PER_REQUEST} share a request); one D1 round trip (a bare worker's \`select 1\`, minus its no-op) ${fixed(floors.d1_round_trip_ms)} ms; the same in a D1 session started on the primary, as the API makes every query, ${fixed(floors.d1_session_round_trip_ms)} ms; each statement after the first of a batch in that session, ${fixed(floors.d1_batch_statement_ms)} ms.`,
    ...ratios.markdown,
    ...(peer
      ? [
          '',
          'refresh has no Better Auth counterpart: its sessions are a cookie whose expiry slides on use, with no token to rotate.',
          "The OAuth peer does less per token request: it issues opaque tokens whose records it keeps in KV (SHA-256 hashes, the grant's props under AES-GCM keys wrapped per token), and no ID token; edge-users signs an RFC 9068 access token (an EdDSA JWT) and, on the exchange, an RS256 ID token, and writes the grant to D1. oauth userinfo has no counterpart in the peer.",
        ]
      : []),
    '',
    `D1 and dollars per request: D1's own meta (rows read and written, query time) averaged over ${USAGE_REQUESTS} requests of each endpoint served with REPORT_D1_USAGE=true; CPU is the workerd CPU per request above (an upper bound: it includes the local D1 and Durable Object). Cost of one million requests beyond the Workers Paid plan's included usage, at Cloudflare's prices read on ${PRICES_READ_ON}: $${PLAN.overage.requests}/M requests, $${PLAN.overage.cpuMs}/M CPU ms, $${PLAN.overage.d1RowsRead}/M rows read, $${PLAN.overage.d1RowsWritten}/M rows written.`,
    '',
    '| endpoint | D1 queries/req | rows read/req | rows written/req | D1 query ms/req | CPU ms/req | $ per million requests |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.flatMap((row) => {
      const u = usage.get(row.name)
      if (!u) return []
      return `| ${row.name} | ${fixed(u.queries, 1)} | ${fixed(u.rows_read, 1)} | ${fixed(u.rows_written, 1)} | ${fixed(u.d1_ms, 3)} | ${fixed(row.cpuMsPerRequest)} | ${fixed(costOf(row, u).total, 2)} |`
    }),
    // Measured in the rows pass alone (rowsOnly): CPU from its sequential requests there.
    ...rowsOnly(rows, usage).map(
      ([name, u]) =>
        `| ${name} (rows pass only) | ${fixed(u.queries, 1)} | ${fixed(u.rows_read, 1)} | ${fixed(u.rows_written, 1)} | ${fixed(u.d1_ms, 3)} | ${fixed(u.cpu_ms)} | ${fixed(costPerMillion({ cpuMs: u.cpu_ms, rowsRead: u.rows_read, rowsWritten: u.rows_written }).total, 2)} |`,
    ),
    '',
    `Storage (bytes per row, indexes included, in the local D1 after the run): ${storage.map(({ table, rows: count, bytesPerRow }) => `${table} ${fixed(bytesPerRow, 0)} (${count} rows)`).join(', ')}.`,
  ]
  const me = measured.p50('me')
  if (Number.isFinite(me)) {
    lines.push(
      '',
      `Where me's time goes: me p50 − hello p50 = ${fixed(me - hello)} ms, of which ${fixed(floors.d1_session_round_trip_ms)} ms is the one D1 round trip in a session (${fixed(floors.d1_round_trip_ms)} ms without one) every authenticated request makes to read its session back.`,
    )
  }
  lines.push('', `Errors: ${errors.errors}; 5xx: ${errors.status_5xx}. Finished in ${seconds} s.`)
  return lines.join('\n')
}

export function jsonReport(
  options: BenchOptions,
  { rows, bundle, startUp, usage, storage, scale, measured, ratios, peer, errors }: Results,
) {
  return {
    users: options.users,
    seconds_per_run: options.seconds,
    machine: machineLine(),
    mode: options.mode,
    dev_server: devServerLine(),
    peer: peer
      ? [
          { name: 'better-auth', users: PEER_USERS },
          { ...oauthPeerLibrary(), users: 1 },
        ]
      : null,
    pinning,
    bundle,
    start_up: startUp ?? null,
    floors: { hello_p50_ms: measured.p50('hello'), iterations: ITERATIONS, ...measured.floors },
    ratios: ratios.json,
    targets: ratios.count,
    prices: { read_on: PRICES_READ_ON, ...PLAN },
    storage: storage.map(({ table, rows: count, bytesPerRow }) => ({ table, rows: count, bytes_per_row: bytesPerRow })),
    endpoints: Object.fromEntries(
      rows.map((row) => {
        const { name, latency, throughput, cpuMsPerRequest } = row
        const u = usage.get(name)
        return [
          name,
          {
            rps: throughput.rps,
            p50_ms: latency.p50_ms,
            p99_ms: latency.p99_ms,
            cpu_ms_per_request: cpuMsPerRequest,
            ...(u ? { d1: u, usd_per_million: costOf(row, u) } : {}),
            errors: latency.errors + throughput.errors,
            status_5xx: latency.status_5xx + throughput.status_5xx,
            latency,
            throughput,
          },
        ]
      }),
    ),
    rows_only_endpoints: Object.fromEntries(
      rowsOnly(rows, usage).map(([name, u]) => [
        name,
        {
          cpu_ms_per_request: u.cpu_ms,
          d1: u,
          usd_per_million: costPerMillion({ cpuMs: u.cpu_ms, rowsRead: u.rows_read, rowsWritten: u.rows_written }),
        },
      ]),
    ),
    ...(scale
      ? { scale: scale.map(({ users, rows: r }) => ({ users, endpoints: Object.fromEntries(r.map((row) => [row.name, row.latency])) })) }
      : {}),
    ...errors,
  }
}

/** Errors and 5xx answers over every run, the scale runs included. */
export function errorsIn(rows: Row[]) {
  return {
    errors: rows.reduce((sum, row) => sum + row.latency.errors + row.throughput.errors, 0),
    status_5xx: rows.reduce((sum, row) => sum + row.latency.status_5xx + row.throughput.status_5xx, 0),
  }
}
