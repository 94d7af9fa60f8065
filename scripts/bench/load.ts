/**
 * Drives one endpoint with autocannon from this (separate) Node process. Latencies are taken from
 * autocannon's per-response hrtime durations, so percentiles keep sub-millisecond precision (its
 * own histogram rounds to whole milliseconds, too coarse for a route that costs one).
 */
import autocannon from 'autocannon'

export type RequestSpec = {
  method?: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  /** Headers that change from request to request (a bearer token from a pool), beside `headers`. */
  headersEach?: () => Record<string, string>
  /** A body per request (signups need new names, refreshes the latest token). */
  body?: () => string | undefined
  /** Sees every response, e.g. to keep the refresh token it returned. */
  onResponse?: (status: number, body: string) => void
  /** For requests that each spend a single-use credential (a second step's mfa_token). */
  credentials?: Credentials
  /** A page's form POST answers with a redirect (303): that is its success, not an error. */
  redirects?: boolean
  /**
   * Measured in the rows pass only (D1 queries, rows, CPU of a few requests), not in the timed
   * rounds: a rare write whose side work (a mail for the queue's consumer) would load the engine
   * under every endpoint measured after it.
   */
  rowsOnly?: boolean
}

/**
 * A pool of single-use credentials, filled before each run outside its timing. A run makes at most
 * as many requests as the pool allows, then ends early rather than send one bound to fail; its
 * throughput is then its requests over the time it took.
 */
export type Credentials = {
  /** Fills the pool for a run of about this many seconds at this concurrency, or this many requests; called before each run, outside its timing and its CPU. */
  prepare: (run: { connections: number; seconds?: number; requests?: number }) => Promise<void>
  /** How many requests the pool allows now. */
  available: () => number
}

/**
 * One request as a spec describes it, outside the load generator (the rows pass, the profiler):
 * JSON unless the spec's headers say otherwise (the token endpoint takes a form), redirects not
 * followed, its answer shown to `onResponse`. Throws on a status the spec does not count as
 * success; returns the answer's headers.
 */
export async function sendOnce(baseUrl: string, name: string, spec: RequestSpec): Promise<Headers> {
  const response = await fetch(`${baseUrl}${spec.path}`, {
    method: spec.method ?? 'GET',
    headers: { ...(spec.body ? { 'content-type': 'application/json' } : {}), ...spec.headers, ...spec.headersEach?.() },
    body: spec.body?.(),
    redirect: 'manual',
  })
  const text = await response.text()
  spec.onResponse?.(response.status, text)
  if (!response.ok && !(spec.redirects && response.status >= 300 && response.status < 400))
    throw new Error(`${name} answered ${response.status}: ${text}`)
  return response.headers
}

export type Measurement = {
  connections: number
  seconds: number
  requests: number
  rps: number
  p50_ms: number
  p99_ms: number
  /** Socket errors, timeouts and non-2xx answers. */
  errors: number
  status_5xx: number
}

/** What one or more runs at the same concurrency collected, before it is summarised. */
export type Sample = { connections: number; seconds: number; latencies: number[]; errors: number; status5xx: number }

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits

export function summarise(sample: Sample): Measurement {
  const sorted = [...sample.latencies].sort((a, b) => a - b)
  return {
    connections: sample.connections,
    seconds: sample.seconds,
    requests: sorted.length,
    rps: round(sorted.length / sample.seconds, 1),
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
    errors: sample.errors,
    status_5xx: sample.status5xx,
  }
}

/** Adds a later run's results to a sample (latency is measured in interleaved slices). */
export function merge(into: Sample | undefined, more: Sample): Sample {
  if (!into) return more
  return {
    connections: into.connections,
    seconds: into.seconds + more.seconds,
    latencies: into.latencies.concat(more.latencies),
    errors: into.errors + more.errors,
    status5xx: into.status5xx + more.status5xx,
  }
}

/** Runs one endpoint; a spec with credentials must have had them prepared for this run. */
export async function run(baseUrl: string, spec: RequestSpec, connections: number, seconds: number): Promise<Sample> {
  const amount = spec.credentials?.available()
  if (amount !== undefined && amount < connections)
    throw new Error(`${spec.path}: ${amount} credentials left for ${connections} connections`)
  const latencies: number[] = []
  let status5xx = 0
  let non2xx = 0
  let instance: autocannon.Instance
  const started = performance.now()
  let lastResponse = started
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: baseUrl,
        connections,
        pipelining: 1,
        // With a pool, autocannon counts requests instead; the run's duration is kept by the timer below.
        ...(amount === undefined ? { duration: seconds } : { amount }),
        requests: [
          {
            method: spec.method ?? 'GET',
            path: spec.path,
            headers: { ...(spec.body ? { 'content-type': 'application/json' } : {}), ...spec.headers },
            setupRequest: (request) => ({
              ...request,
              ...(spec.headersEach ? { headers: { ...request.headers, ...spec.headersEach() } } : {}),
              ...(spec.body ? { body: spec.body() } : {}),
            }),
            onResponse: (status: number, body: string) => spec.onResponse?.(status, body),
          },
        ],
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    )
  })
  instance!.on('response', (_client, statusCode, _bytes, responseTime) => {
    latencies.push(responseTime)
    lastResponse = performance.now()
    if (statusCode >= 500) status5xx++
    if (statusCode < 200 || statusCode >= (spec.redirects ? 400 : 300)) non2xx++
  })
  const timer = amount === undefined ? undefined : setTimeout(() => instance.stop(), seconds * 1000)
  const result = await finished.finally(() => clearTimeout(timer))
  // A pool's run lasts until its last answer: sooner when the pool ran out, later by what was in
  // flight (autocannon notices a stop at its next one-second tick).
  const took = amount === undefined ? seconds : (lastResponse - started) / 1000
  return { connections, seconds: took, latencies, errors: result.errors + result.timeouts + non2xx, status5xx }
}

/**
 * How fast a pool's runs took their bodies, per concurrency, so the next run's pool is sized from
 * what the earlier ones reached: before a run `expected(connections)`, then `started`, then
 * `took()` as each body is asked for.
 */
export class RunRates {
  private readonly observed = new Map<number, number>()
  private run: { connections: number; first: number; last: number; bodies: number } | undefined

  constructor(private readonly firstGuess: number) {}

  /** Requests a second a run at this concurrency is expected to make (what the last one taught, first). */
  expected(connections: number): number {
    const run = this.run
    if (run && run.bodies > run.connections && run.last > run.first)
      this.observed.set(run.connections, (run.bodies - run.connections) / ((run.last - run.first) / 1000))
    const exact = this.observed.get(connections)
    if (exact !== undefined) return exact
    // One workerd thread serves every connection, so more of them add little: twice the best seen.
    const best = Math.max(0, ...this.observed.values())
    return best > 0 ? best * 2 : this.firstGuess
  }

  started(connections: number) {
    this.run = { connections, first: 0, last: 0, bodies: 0 }
  }

  took() {
    const run = this.run
    if (!run) return
    const now = Date.now()
    if (run.bodies === 0) run.first = now
    run.last = now
    run.bodies++
  }
}
