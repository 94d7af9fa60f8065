/**
 * Cloudflare's published prices and limits that the benchmark and the capacity model
 * (scripts/capacity.ts) turn measurements into dollars and headroom with. Read from
 * developers.cloudflare.com (Workers, D1, Durable Objects and Queues pricing and limits pages) on
 * the date below; docs/benchmark.md and docs/scale.md repeat them. Update both when they change.
 */
export const PRICES_READ_ON = '2026-11-25'

/** The Workers Paid plan: a monthly fee, usage included in it, and the price of usage beyond, in USD. */
export const PLAN = {
  monthlyFee: 5,
  included: {
    requests: 10_000_000,
    cpuMs: 30_000_000,
    d1RowsRead: 25_000_000_000,
    d1RowsWritten: 50_000_000,
    d1StorageGb: 5,
    durableObjectRequests: 1_000_000,
    queueOperations: 1_000_000,
  },
  /** Per million beyond what is included (storage: per GB-month). */
  overage: {
    requests: 0.3,
    cpuMs: 0.02,
    d1RowsRead: 0.001,
    d1RowsWritten: 1.0,
    d1StorageGbMonth: 0.75,
    durableObjectRequests: 0.15,
    queueOperations: 0.4,
  },
}

export const D1_LIMITS = {
  /** Largest database on Workers Paid: 10 GB. */
  databaseBytes: 10 * 1e9,
  /**
   * A database runs one query at a time, so its throughput is one second of query time per second:
   * Cloudflare's own rule of thumb is about 1000 queries a second at 1 ms each.
   */
  queryMsPerSecond: 1000,
  /** The rule of thumb's cost of one query, for planning when measured durations are local. */
  planningMsPerQuery: 1,
}

/** What one request costs in D1 and Workers terms, as measured. */
export type RequestCost = { cpuMs: number; rowsRead: number; rowsWritten: number }

/**
 * The marginal cost, in USD, of one million such requests beyond the plan's included usage:
 * Workers requests and CPU, D1 rows read and written. Durable Object and Queue operations, which
 * only some routes make, are priced in docs/scale.md.
 */
export function costPerMillion({ cpuMs, rowsRead, rowsWritten }: RequestCost) {
  const parts = {
    requests: PLAN.overage.requests,
    cpu: cpuMs * PLAN.overage.cpuMs,
    rowsRead: rowsRead * PLAN.overage.d1RowsRead,
    rowsWritten: rowsWritten * PLAN.overage.d1RowsWritten,
  }
  return { ...parts, total: parts.requests + parts.cpu + parts.rowsRead + parts.rowsWritten }
}

export const DURABLE_OBJECT_LIMITS = {
  /** One Durable Object's soft limit: about 1000 requests a second. */
  requestsPerSecond: 1000,
}
