/**
 * `npm run profile -- [--endpoint NAME] [--requests N] [--first] [--top N] [--users N]`
 *
 * A CPU profile of one endpoint in workerd, by function: where a request's CPU goes, which the
 * benchmark's totals do not say. Serves the worker as the benchmark does (deploy: a fresh local D1
 * seeded with N users, production's key set, the throttles raised) but with the inspector on and
 * the bundle unminified, drives the endpoint as the benchmark names it (bench/endpoints.ts), and
 * samples the worker's isolate with V8's profiler (bench/profiler.ts) while it does.
 *
 * By default it warms the isolate up (WARM_UP_REQUESTS unprofiled), then profiles N requests
 * (500), one after the other. `--first` profiles the first request of a fresh isolate instead: the
 * server is started again on the same database, and the profiler attached before anything is sent,
 * so the request's start-up work (configuration, key imports, lazy compilation) is in it.
 *
 * Prints Markdown: the sampled busy time per request, then the top frames (15) by self and by
 * inclusive time, each with its source line when the bundle's source map has it.
 */
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { deploy } from './bench/deploy.ts'
import { endpointPools, endpoints } from './bench/endpoints.ts'
import { frameLocator } from './bench/frame-locations.ts'
import { type RequestSpec, sendOnce } from './bench/load.ts'
import { ENDPOINT_NAMES } from './bench/options.ts'
import { pinLoadGenerator } from './bench/pinning.ts'
import { addProfile, newTally, type Tally, topFrames } from './bench/profile-tally.ts'
import { connectProfiler, type Profiler } from './bench/profiler.ts'
import { untilIdle } from './bench/start-up.ts'

/** Enough for the JIT to have settled on the endpoint's hot code before anything is recorded. */
const WARM_UP_REQUESTS = 200
/**
 * Requests per profile: a long profile is one large message through the inspector proxy, and a
 * pool's credentials (an OAuth code lives 60 s) are better filled just before they are spent.
 */
const BATCH = 100

type ProfileOptions = { endpoint: string; requests: number; first: boolean; top: number; users: number }

function readOptions(args: string[]): ProfileOptions {
  const { values } = parseArgs({
    args,
    options: {
      endpoint: { type: 'string', default: 'hello' },
      requests: { type: 'string', default: '500' },
      first: { type: 'boolean', default: false },
      top: { type: 'string', default: '15' },
      // Fewer than the benchmark's 10000: seeding is quicker, and only the deep page's cost depends on the table's size.
      users: { type: 'string', default: '1000' },
    },
  })
  if (!(ENDPOINT_NAMES as readonly string[]).includes(values.endpoint))
    throw new Error(
      `--endpoint: no endpoint named '${values.endpoint}'; the endpoints are ${ENDPOINT_NAMES.map((n) => `'${n}'`).join(', ')}`,
    )
  const whole = (name: string, value: string, least: number) => {
    const number = Number(value)
    if (!Number.isSafeInteger(number) || number < least) throw new Error(`--${name} must be a whole number of at least ${least}`)
    return number
  }
  return {
    endpoint: values.endpoint,
    requests: values.first ? 1 : whole('requests', values.requests, 1),
    first: values.first,
    top: whole('top', values.top, 1),
    users: whole('users', values.users, 200),
  }
}

/** `count` requests one after the other, in batches whose credentials are prepared first; `during` wraps each batch's requests. */
async function drive(
  baseUrl: string,
  name: string,
  spec: RequestSpec,
  count: number,
  during: (requests: () => Promise<void>) => Promise<void> = (requests) => requests(),
) {
  for (let done = 0; done < count; ) {
    const wanted = Math.min(BATCH, count - done)
    await spec.credentials?.prepare({ connections: 1, requests: wanted })
    // A pool of single-use credentials may hold fewer than asked (a TOTP account's unspent steps): as the benchmark does, send no more.
    const batch = Math.min(wanted, spec.credentials?.available() ?? wanted)
    if (batch === 0) throw new Error(`${name}: its pool of single-use credentials is empty`)
    await during(async () => {
      for (let i = 0; i < batch; i++) await sendOnce(baseUrl, name, spec)
    })
    done += batch
  }
}

const ms = (us: number, requests: number) => (us / 1000 / requests).toFixed(3)

function markdown(options: ProfileOptions, tally: Tally, where: ReturnType<typeof frameLocator>): string {
  const { endpoint, requests, top } = options
  const table = (title: string, times: Map<string, number>) => [
    `## Top ${top} by ${title} time`,
    '',
    '| ms/request | share | function | where |',
    '|---:|---:|---|---|',
    ...topFrames(tally, times, top).map(
      ({ frame, us }) =>
        `| ${ms(us, requests)} | ${((us / tally.busyUs) * 100).toFixed(1)}% | \`${frame.functionName || '(anonymous)'}\` | ${where(frame) || (frame.functionName.startsWith('(') ? '–' : 'native')} |`,
    ),
    '',
  ]
  return [
    `# CPU profile: ${endpoint}, ${options.first ? "a fresh isolate's first request" : `${requests} requests after ${WARM_UP_REQUESTS} unprofiled`}`,
    '',
    "V8's sampling profiler in workerd (one sample every 50 µs, the bundle unminified): sampling inflates the totals, so the shares matter, not the absolute ms.",
    '',
    `- Busy (JS and the garbage collector), sampled: **${ms(tally.busyUs, requests)} ms per request**, over ${requests} request${requests === 1 ? '' : 's'}.`,
    `- Profiled in all: ${ms(tally.sampledUs, requests)} ms per request; the rest is outside JS (workerd's own work, waits on D1 and the network).`,
    '- Shares are of the busy time; inclusive time counts a function once per stack, however often it recurses.',
    '',
    ...table('self', tally.self),
    ...table('inclusive', tally.inclusive),
  ].join('\n')
}

async function main(options: ProfileOptions) {
  pinLoadGenerator()
  process.stderr.write(`Starting the worker (inspector on, unminified) on a fresh D1 with ${options.users} users\n`)
  const deployment = await deploy(options.users, { assets: false, inspector: true })
  let profiler: Profiler | undefined
  try {
    const only = [options.endpoint]
    const { spec } = (await endpoints(endpointPools(), deployment, only)).find(({ name }) => name === options.endpoint)!
    const tally = newTally()
    if (options.first) {
      // The request's credential (a code, a token) is made now, on the warm server; the database keeps it.
      await spec.credentials?.prepare({ connections: 1, requests: 1 })
      process.stderr.write('Serving again, unasked, and waiting for the engine to go quiet\n')
      const cold = await deployment.servedCold()
      await untilIdle(cold.cpuMs)
      profiler = await connectProfiler(cold.inspectorPort!)
      const { profile } = profiler
      addProfile(tally, await profile(async () => void (await sendOnce(cold.baseUrl, options.endpoint, spec))))
    } else {
      profiler = await connectProfiler(deployment.inspectorPort!)
      const { profile } = profiler
      process.stderr.write(`Warming up: ${WARM_UP_REQUESTS} requests\n`)
      await drive(deployment.baseUrl, options.endpoint, spec, WARM_UP_REQUESTS)
      process.stderr.write(`Profiling ${options.requests} requests\n`)
      await drive(deployment.baseUrl, options.endpoint, spec, options.requests, async (requests) => {
        addProfile(tally, await profile(requests))
      })
    }
    // The bundle goes with the server: its frames are located before it stops.
    console.log(markdown(options, tally, frameLocator(dirname(deployment.persistTo))))
  } finally {
    profiler?.close()
    await deployment.stop()
  }
}

await main(readOptions(process.argv.slice(2)))
