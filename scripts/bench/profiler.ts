/**
 * The V8 CPU profiler of a served worker, through the inspector wrangler puts in front of workerd
 * (the DevTools protocol over a WebSocket): `npm run profile`'s client. One client at a time: the
 * inspector proxy closes any second one.
 */

/** A function as V8 names it: lines and columns are 0-based positions in the script (the bundle). */
export type CallFrame = { functionName: string; url: string; lineNumber: number; columnNumber: number }
export type ProfileNode = { id: number; callFrame: CallFrame; children?: number[] }
/** The protocol's Profiler.Profile: a call tree, and which node each sample was in, µs after the one before. */
export type Profile = { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

/**
 * One sample every 50 µs, against V8's default of 1 ms: a request of a few ms is otherwise a handful
 * of samples. Each sample interrupts the thread, so the totals come out higher than unprofiled.
 */
const SAMPLING_INTERVAL_US = 50
/** A reply slower than this is a lost one (the proxy drops what it cannot relay). */
const REPLY_TIMEOUT_MS = 60_000

export type Profiler = {
  /** Profiles what `work` makes the worker do; the profiler runs from just before it to just after. */
  profile: (work: () => Promise<void>) => Promise<Profile>
  close: () => void
}

/** Connects to the inspector on `port` (its /json names the WebSocket) and enables the profiler. */
export async function connectProfiler(port: number): Promise<Profiler> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string }[]
  const url = targets[0]?.webSocketDebuggerUrl
  if (!url) throw new Error(`the inspector on port ${port} lists no target`)
  // wrangler's inspector proxy takes a WebSocket only with an Origin of its own hosts (DevTools', or
  // localhost's), and Node's WebSocket sends none unless told: undici's WebSocketInit takes headers.
  const WebSocketWithHeaders = WebSocket as unknown as new (url: string, init: { headers: Record<string, string> }) => WebSocket
  const socket = new WebSocketWithHeaders(url, { headers: { origin: 'http://127.0.0.1' } })
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true })
    socket.addEventListener('error', () => reject(new Error(`could not connect to the inspector at ${url}`)), { once: true })
  })

  let nextId = 0
  const pending = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>()
  socket.addEventListener('message', (event) => {
    // Replies carry the request's id; events (no id) and replies to the proxy's own requests are not ours.
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } }
    const waiting = message.id === undefined ? undefined : pending.get(message.id)
    if (!waiting) return
    pending.delete(message.id!)
    if (message.error) waiting.reject(new Error(message.error.message))
    else waiting.resolve(message.result)
  })
  socket.addEventListener('close', () => {
    for (const { reject } of pending.values()) reject(new Error('the inspector closed the connection'))
    pending.clear()
  })

  const send = <T>(method: string, params: object = {}) =>
    new Promise<T>((resolve, reject) => {
      const id = ++nextId
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error(`the inspector did not answer ${method} within ${REPLY_TIMEOUT_MS / 1000} s`))
      }, REPLY_TIMEOUT_MS)
      pending.set(id, {
        resolve: (result) => {
          clearTimeout(timer)
          resolve(result as T)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      socket.send(JSON.stringify({ id, method, params }))
    })

  await send('Profiler.enable')
  await send('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US })
  return {
    async profile(work) {
      const stop = () => send<{ profile: Profile }>('Profiler.stop')
      await send('Profiler.start')
      try {
        await work()
      } catch (error) {
        // Stopped whatever happens, so the isolate is not left sampling.
        await stop().catch(() => undefined)
        throw error
      }
      return (await stop()).profile
    },
    close: () => socket.close(),
  }
}
