/**
 * `npm run upkeep`: runs the daily upkeep (the worker's scheduled() handler, as the Cron Trigger
 * fires it in production) once against the local database. When this checkout's dev server is
 * running, that server is sent the scheduled event: a second server on the same database would step
 * on the first. Otherwise a dev server is started for it, sent the event, and stopped, and what the
 * upkeep deleted is printed.
 */
import { devServersUsingLocalD1, findRunningDevServer, startDevServer } from './lib/dev-server.ts'
import { wranglerCrons } from './lib/wrangler-toml.ts'

/**
 * Fires the scheduled event through the route wrangler dev serves for it, which answers once the
 * handler and its waitUntil() work are done, with their outcome. (`/cdn-cgi/handler/scheduled` is
 * its older name; `/__scheduled`, which --test-scheduled adds, answers before waitUntil() work ends.)
 */
async function sendScheduledEvent(base: string, cron: string): Promise<void> {
  const response = await fetch(`${base}/cdn-cgi/local/scheduled?cron=${encodeURIComponent(cron)}`)
  const outcome = (await response.text()).trim().slice(0, 200)
  if (!response.ok) throw new Error(`the scheduled handler's outcome is "${outcome}" (HTTP ${response.status})`)
}

async function upkeepThroughRunningServer(base: string, cron: string) {
  console.log(`This checkout's dev server is running at ${base}: sending it the scheduled event (cron "${cron}").`)
  try {
    await sendScheduledEvent(base, cron)
  } catch (error) {
    console.error(`Upkeep failed: ${(error as Error).message}. That server's output says why.`)
    process.exit(1)
  }
  console.log("Upkeep done by the running dev server. What it deleted is in that server's output, on its upkeep.done line.")
}

async function upkeepOnOwnServer(cron: string) {
  console.log('No dev server of this checkout is running: starting one for the upkeep.')
  const server = await startDevServer(process.cwd())
  try {
    await sendScheduledEvent(server.base, cron)
    const deadline = Date.now() + 30_000
    let report: string | undefined
    while (!report && Date.now() < deadline) {
      report = server.output().match(/\{[^\n]*"event":"upkeep\.done"[^\n]*\}/)?.[0]
      if (!report) await new Promise((r) => setTimeout(r, 200))
    }
    if (!report) throw new Error('the upkeep did not report within 30 seconds')
    const { level: _level, event: _event, ...deleted } = JSON.parse(report) as Record<string, unknown>
    console.log('Upkeep done:', deleted)
  } catch (error) {
    console.error(`Upkeep failed: ${(error as Error).message}\n${server.output()}`)
    process.exitCode = 1
  } finally {
    server.stop()
  }
}

const cron = wranglerCrons()[0]
if (!cron) {
  console.error('wrangler.toml has no [triggers] crons: there is no scheduled upkeep to run.')
  process.exit(1)
}
const running = await findRunningDevServer()
if (running) {
  await upkeepThroughRunningServer(running.base, cron)
} else {
  const holders = devServersUsingLocalD1()
  if (holders.length > 0) {
    // Something holds the database but does not answer as this checkout's API: a server started
    // another way, on a port not looked at, or one whose configuration is broken.
    console.error(
      `${holders.length === 1 ? 'Process' : 'Processes'} ${holders.join(', ')} ${holders.length === 1 ? 'holds' : 'hold'} the local database, ` +
        'but no dev server of this checkout answered as healthy (200 from /api/v1/health, and a signing key of its .dev.vars ' +
        'in /.well-known/jwks.json) on the port npm run dev recorded, the ports those processes listen on, or 8787-8797. ' +
        'The event cannot be sent to it, and a second server on the same database would step on it. ' +
        'Restart it with npm run dev (or stop it), then run npm run upkeep again.',
    )
    process.exit(1)
  }
  await upkeepOnOwnServer(cron)
}
