/**
 * The capacity model of docs/scale.md: turns a traffic mix and the benchmark's measured cost of
 * each request (D1 queries, rows read and written, CPU, bytes per stored row) into requests a
 * day, the load on one D1 database and on each of the limiter's Durable Objects, storage, a
 * monthly bill, and the number of users at which one database (or the limiter's hottest object)
 * runs out first.
 *
 *   npm run capacity -- [--report FILE] [--users N] [--active F] [--logins N] [--refreshes N]
 *                       [--reads N] [--signups F] [--peak R] [--audit-days N] [--replica]
 *                       [--networks N] [--app-signins N] [--client-refreshes N] [--userinfo N]
 *                       [--invitations F]
 *
 * --report is a `npm run bench -- --json FILE` result (default: the one docs/scale.md uses).
 * The mix is per active user per day; --active is the share of users active on a day, --signups
 * the share of the user base that signs up each day, --peak the busiest second over the average.
 * --replica models AUTH_READ_MODE=replica: authenticated reads leave the primary for read replicas.
 * --networks is how many client networks (an IPv4 address, an IPv6 /64) the traffic comes from
 * (default: one per active user); the limiter spreads them, and the accounts, over its shards.
 * As an identity provider, per active user per day: --app-signins sign-ins at other apps through
 * the OpenID Provider (each an authorization that writes a code and its grant, and the code's
 * exchange), --client-refreshes refreshes by those apps at the token endpoint, --userinfo userinfo
 * requests; --invitations is the share of users invited to an organization each day.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { LIMITER_SHARDS, shardOf } from '../src/rate-limit/client.ts'
import { D1_LIMITS, DURABLE_OBJECT_LIMITS, PLAN, PRICES_READ_ON } from './bench/prices.ts'

const { values: options } = parseArgs({
  options: {
    report: { type: 'string', default: 'docs/benchmarks/2026-12-06-quick-peer-1.json' },
    users: { type: 'string', default: '1000000' },
    active: { type: 'string', default: '0.2' },
    logins: { type: 'string', default: '0.2' },
    refreshes: { type: 'string', default: '16' },
    reads: { type: 'string', default: '50' },
    signups: { type: 'string', default: '0.001' },
    peak: { type: 'string', default: '3' },
    'audit-days': { type: 'string', default: '365' },
    replica: { type: 'boolean', default: false },
    networks: { type: 'string' },
    'app-signins': { type: 'string', default: '0.5' },
    'client-refreshes': { type: 'string', default: '8' },
    userinfo: { type: 'string', default: '0.5' },
    invitations: { type: 'string', default: '0.0005' },
  },
})
const number = (name: keyof typeof options) => {
  const value = Number(options[name])
  if (!(value >= 0) || !Number.isFinite(value)) throw new Error(`--${name} must be a non-negative number`)
  return value
}

type Measured = { cpu_ms_per_request: number; d1: { queries: number; rows_read: number; rows_written: number; d1_ms: number } }
type Report = {
  endpoints: Record<string, Measured>
  /** Endpoints the benchmark measures in its rows pass alone (a rare write with a mail, say). */
  rows_only_endpoints?: Record<string, Measured>
  storage: { table: string; rows: number; bytes_per_row: number }[]
}
const report = JSON.parse(readFileSync(options.report, 'utf8')) as Report
const measured = (name: string) => {
  const endpoint = report.endpoints[name] ?? report.rows_only_endpoints?.[name]
  if (!endpoint?.d1) throw new Error(`${options.report} has no D1 figures for '${name}': run npm run bench -- --json FILE`)
  return endpoint
}
/**
 * Bytes a stored row takes, indexes included, as the run left its table. dbstat counts whole 4 KiB
 * pages, so a table the run left with few rows (a consent, an invitation) shows the page's floor
 * shared among them: such a table is given the widest row among the tables measured full, an
 * upper bound.
 */
const WELL_MEASURED_ROWS = 1000
const widestMeasured = Math.max(...report.storage.filter((row) => row.rows >= WELL_MEASURED_ROWS).map((row) => row.bytes_per_row))
const bytesPerRow = (table: string) => {
  const row = report.storage.find((entry) => entry.table === table)
  if (!row) return 0
  return row.rows >= WELL_MEASURED_ROWS ? row.bytes_per_row : widestMeasured
}

const DAY = 86_400
const MONTH_DAYS = 30
const users = number('users')
const active = users * number('active')

/**
 * Requests a day by kind; `me` stands for every authenticated read (profile, sessions, admin).
 * `limiter` counts the Durable Object requests each makes: one to its network's shard, and for a
 * login one more, at once, to its account's shard.
 */
const mix = [
  { kind: 'signup', endpoint: 'signup', perDay: users * number('signups'), limiter: 1, mails: 1, primary: true },
  { kind: 'login', endpoint: 'login', perDay: active * number('logins'), limiter: 2, mails: 0, primary: true },
  { kind: 'refresh', endpoint: 'refresh', perDay: active * number('refreshes'), limiter: 1, mails: 0, primary: true },
  { kind: 'authenticated read', endpoint: 'me', perDay: active * number('reads'), limiter: 0, mails: 0, primary: !options.replica },
  // The identity provider's paths: an app's sign-in is an authorization (its code, its grant, the
  // consent kept) then the code's exchange; the app then refreshes at the token endpoint, which
  // spends from the network's budget like every unauthenticated POST.
  {
    kind: 'authorization (code)',
    endpoint: 'oauth authorize',
    perDay: active * number('app-signins'),
    limiter: 0,
    mails: 0,
    primary: true,
  },
  { kind: 'code exchange', endpoint: 'oauth code exchange', perDay: active * number('app-signins'), limiter: 1, mails: 0, primary: true },
  { kind: 'client refresh', endpoint: 'oauth refresh', perDay: active * number('client-refreshes'), limiter: 1, mails: 0, primary: true },
  { kind: 'userinfo', endpoint: 'oauth userinfo', perDay: active * number('userinfo'), limiter: 0, mails: 0, primary: !options.replica },
  // An invitation spends its inviter's hourly budget (a limiter request) and sends a mail.
  { kind: 'org invitation', endpoint: 'org invitation', perDay: users * number('invitations'), limiter: 1, mails: 1, primary: true },
].map((entry) => ({ ...entry, cost: measured(entry.endpoint) }))

const perDay = (pick: (entry: (typeof mix)[number]) => number) => mix.reduce((sum, entry) => sum + entry.perDay * pick(entry), 0)
const requestsPerDay = perDay(() => 1)
const peakFactor = number('peak')
const peakRps = (requestsPerDay / DAY) * peakFactor
const queriesPerDay = perDay((e) => e.cost.d1.queries)
const rowsReadPerDay = perDay((e) => e.cost.d1.rows_read)
const rowsWrittenPerDay = perDay((e) => e.cost.d1.rows_written)
const cpuMsPerDay = perDay((e) => e.cost.cpu_ms_per_request)
const limiterPerDay = perDay((e) => e.limiter)
const mailsPerDay = perDay((e) => e.mails)

// One database answers one query at a time: the primary's busy milliseconds per second at the
// peak (read replicas, in replica mode, take the authenticated reads).
const onPrimary = (pick: (entry: (typeof mix)[number]) => number) => perDay((e) => (e.primary ? pick(e) : 0))
const busyMeasured = (onPrimary((e) => e.cost.d1.d1_ms) / DAY) * peakFactor
const busyPlanned = ((onPrimary((e) => e.cost.d1.queries) * D1_LIMITS.planningMsPerQuery) / DAY) * peakFactor
const limiterPeakRps = (limiterPerDay / DAY) * peakFactor

/**
 * How unevenly the limiter's keys fall into its shards: synthetic keys shaped as the worker makes
 * them (`ip:` or `account:` and 16 bytes of an HMAC, base64url; random bytes stand in for the
 * HMAC), each network carrying an equal share of the network requests and each logging-in account
 * an equal share of the account requests, hashed with the worker's own shardOf (FNV-1a). Returns
 * the hottest shard's load over the mean. With more keys (10 ×, 100 × the users) the spread only
 * evens out, so this imbalance is used at every scale.
 */
function shardImbalance(networks: number, accounts: number, accountShare: number): number {
  const load = new Array<number>(LIMITER_SHARDS).fill(0)
  const spread = (kind: string, keys: number, share: number) => {
    for (let i = 0; i < keys; i++)
      load[Number(shardOf(`${kind}:${randomBytes(16).toString('base64url')}`).slice('shard-'.length))]! += share / keys
  }
  spread('ip', networks, 1 - accountShare)
  spread('account', accounts, accountShare)
  return Math.max(...load) / (1 / LIMITER_SHARDS)
}
const networks = options.networks === undefined ? Math.max(1, Math.round(active)) : number('networks')
const loginsPerDay = mix[1]!.perDay
const accountShare = loginsPerDay / limiterPerDay
const imbalance = shardImbalance(networks, Math.max(1, Math.round(loginsPerDay)), accountShare)
const SCALES = [1, 10, 100]
const perShard = SCALES.map((scale) => {
  const mean = (limiterPeakRps * scale) / LIMITER_SHARDS
  return { scale, total: limiterPeakRps * scale, mean, hottest: mean * imbalance }
})
const softLimit = DURABLE_OBJECT_LIMITS.requestsPerSecond

// Storage: every account; every session a login opened, kept until it expires (REFRESH_TOKEN_TTL,
// 30 days; logouts would free some); and audit events (signups, logins, invitations) for their
// retention. An app's grant is kept while its browser session lives (30 days at most here, the
// upkeep sweeps it after); one consent per active person (one app); an invitation is never swept,
// so it stays as long as the audit log does.
// A refresh stores nothing new (its token names its session; spent tokens are kept only for
// sessions opened before that, which are gone 30 days after the change).
const SESSION_DAYS = 30
const perDayOf = (kind: string) => mix.find((entry) => entry.kind === kind)?.perDay ?? 0
const stored = {
  users: users * bytesPerRow('users'),
  sessions: mix[1]!.perDay * SESSION_DAYS * bytesPerRow('sessions'),
  audit_events: (mix[0]!.perDay + mix[1]!.perDay + perDayOf('org invitation')) * number('audit-days') * bytesPerRow('audit_events'),
  oauth_grants: perDayOf('authorization (code)') * SESSION_DAYS * bytesPerRow('oauth_grants'),
  oauth_consents: active * bytesPerRow('oauth_consents'),
  org_invitations: perDayOf('org invitation') * number('audit-days') * bytesPerRow('org_invitations'),
}
const storageBytes = Object.values(stored).reduce((sum, bytes) => sum + bytes, 0)

// How many users each limit allows, everything else scaling with the user base.
const headroom = [
  {
    limit: `D1 query time at the peak, at ${D1_LIMITS.planningMsPerQuery} ms a query (Cloudflare's rule of thumb)`,
    used: busyPlanned / D1_LIMITS.queryMsPerSecond,
  },
  { limit: 'D1 query time at the peak, at the locally measured query time', used: busyMeasured / D1_LIMITS.queryMsPerSecond },
  { limit: 'D1 database size (10 GB)', used: storageBytes / D1_LIMITS.databaseBytes },
  {
    limit: `the limiter's hottest Durable Object of ${LIMITER_SHARDS} (soft limit ${softLimit} requests/s)`,
    used: perShard[0]!.hottest / softLimit,
  },
].map((entry) => ({ ...entry, maxUsers: entry.used > 0 ? users / entry.used : Infinity }))
const first = headroom.reduce((a, b) => (b.maxUsers < a.maxUsers ? b : a))

const month = (daily: number) => daily * MONTH_DAYS
const beyond = (used: number, included: number) => Math.max(0, used - included) / 1e6
const bill = {
  plan: PLAN.monthlyFee,
  requests: beyond(month(requestsPerDay), PLAN.included.requests) * PLAN.overage.requests,
  cpu: beyond(month(cpuMsPerDay), PLAN.included.cpuMs) * PLAN.overage.cpuMs,
  rowsRead: beyond(month(rowsReadPerDay), PLAN.included.d1RowsRead) * PLAN.overage.d1RowsRead,
  rowsWritten: beyond(month(rowsWrittenPerDay), PLAN.included.d1RowsWritten) * PLAN.overage.d1RowsWritten,
  storage: Math.max(0, storageBytes / 1e9 - PLAN.included.d1StorageGb) * PLAN.overage.d1StorageGbMonth,
  limiter: beyond(month(limiterPerDay), PLAN.included.durableObjectRequests) * PLAN.overage.durableObjectRequests,
  // A mail is one message: written, read and acknowledged, three Queue operations.
  queue: beyond(month(mailsPerDay * 3), PLAN.included.queueOperations) * PLAN.overage.queueOperations,
}
const total = Object.values(bill).reduce((sum, part) => sum + part, 0)

const f = (value: number, digits = 0) =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : '∞'
const lines = [
  `## Capacity of one D1 database: ${f(users)} users, ${f(active)} active a day`,
  '',
  `Measured costs from ${options.report}; prices and limits read ${PRICES_READ_ON}.`,
  `AUTH_READ_MODE: ${options.replica ? 'replica (authenticated reads on read replicas)' : 'strict (every query on the primary)'}.`,
  `Mix per active user per day: ${options.logins} login, ${options.refreshes} refreshes, ${options.reads} authenticated reads; ${options['app-signins']} sign-ins at other apps, ${options['client-refreshes']} refreshes by them and ${options.userinfo} userinfo; ${f(number('signups') * 100, 2)} % of users sign up and ${f(number('invitations') * 100, 2)} % are invited to an organization each day; the peak second is ${peakFactor} × the average.`,
  '',
  '| request | per day | D1 queries | rows read | rows written | CPU ms |',
  '|---|---:|---:|---:|---:|---:|',
  ...mix.map(
    (e) =>
      `| ${e.kind} | ${f(e.perDay)} | ${f(e.cost.d1.queries, 1)} | ${f(e.cost.d1.rows_read, 1)} | ${f(e.cost.d1.rows_written, 1)} | ${f(e.cost.cpu_ms_per_request, 2)} |`,
  ),
  `| **all** | ${f(requestsPerDay)} | ${f(queriesPerDay)} | ${f(rowsReadPerDay)} | ${f(rowsWrittenPerDay)} | ${f(cpuMsPerDay)} |`,
  '',
  `Average ${f(requestsPerDay / DAY, 1)} requests/s, peak ${f(peakRps, 1)}; the limiter's peak ${f(limiterPeakRps, 1)} Durable Object requests/s.`,
  `Storage: ${f(storageBytes / 1e9, 2)} GB: ${Object.entries(stored)
    .map(([table, bytes]) => `${table} ${f(bytes / 1e9, 2)} GB (${f(bytesPerRow(table))} B a row)`)
    .join(', ')}.`,
  '',
  `The limiter at the peak second, over its ${LIMITER_SHARDS} Durable Objects: keys from ${f(networks)} networks and ${f(loginsPerDay)} logging-in accounts a day, spread by FNV-1a; the hottest object carries ${f(imbalance, 2)} × the mean (simulated over synthetic keys).`,
  '',
  `| mix | limiter requests/s | per object, mean | hottest object | hottest / soft limit (${softLimit}/s) |`,
  '|---|---:|---:|---:|---:|',
  ...perShard.map(
    (s) => `| ${s.scale} × | ${f(s.total, 1)} | ${f(s.mean, 1)} | ${f(s.hottest, 1)} | ${f((s.hottest / softLimit) * 100, 1)} % |`,
  ),
  '',
  '| limit | used at this size | users at 100 % |',
  '|---|---:|---:|',
  ...headroom.map((h) => `| ${h.limit} | ${f(h.used * 100, 1)} % | ${f(h.maxUsers)} |`),
  '',
  `First limit reached: ${first.limit}, at about ${f(first.maxUsers)} users with this mix.`,
  '',
  '| monthly bill (Workers Paid, beyond included usage) | USD |',
  '|---|---:|',
  ...Object.entries(bill).map(([part, usd]) => `| ${part} | ${f(usd, 2)} |`),
  `| **total** | ${f(total, 2)} |`,
]
console.log(lines.join('\n'))
