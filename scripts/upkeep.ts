/**
 * `npm run upkeep`: runs the daily upkeep (the worker's scheduled() handler, as the Cron Trigger
 * fires it in production) once against the local database: a dev server started with
 * --test-scheduled, sent the scheduled event, then stopped. It prints what was deleted.
 */
import { devServersUsingLocalD1, startDevServer } from './lib/dev-server.ts'

const holders = devServersUsingLocalD1()
if (holders.length > 0) {
  console.error(
    `A dev server is using the local database (process ${holders.join(', ')}); two servers on one database would step on each other. ` +
      'Stop it, then run npm run upkeep again.',
  )
  process.exit(1)
}

const server = await startDevServer(process.cwd(), ['--test-scheduled'])
try {
  const response = await fetch(`${server.base}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent('17 3 * * *')}`)
  if (!response.ok) throw new Error(`the scheduled event answered ${response.status}`)
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
