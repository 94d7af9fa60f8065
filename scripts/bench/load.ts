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
  /** A body per request (signups need new names, refreshes the latest token). */
  body?: () => string | undefined
  /** Sees every response, e.g. to keep the refresh token it returned. */
  onResponse?: (status: number, body: string) => void
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

export async function run(baseUrl: string, spec: RequestSpec, connections: number, seconds: number): Promise<Sample> {
  const latencies: number[] = []
  let status5xx = 0
  let non2xx = 0
  let instance: autocannon.Instance
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: baseUrl,
        connections,
        pipelining: 1,
        duration: seconds,
        requests: [
          {
            method: spec.method ?? 'GET',
            path: spec.path,
            headers: { ...(spec.body ? { 'content-type': 'application/json' } : {}), ...spec.headers },
            setupRequest: (request) => (spec.body ? { ...request, body: spec.body() } : request),
            onResponse: (status: number, body: string) => spec.onResponse?.(status, body),
          },
        ],
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    )
  })
  instance!.on('response', (_client, statusCode, _bytes, responseTime) => {
    latencies.push(responseTime)
    if (statusCode >= 500) status5xx++
    if (statusCode < 200 || statusCode >= 300) non2xx++
  })
  const result = await finished
  return { connections, seconds, latencies, errors: result.errors + result.timeouts + non2xx, status5xx }
}
