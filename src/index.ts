import app from './app'
import type { Bindings } from './app-env'
import { runUpkeep } from './jobs/upkeep'
import { consumeDeadMail, consumeMail } from './mail/consumer'
import { DEAD_MAIL_QUEUE } from './mail/jobs'

// Only handlers and Durable Object classes may be exported from here: workerd refuses anything else.

/** The worker: HTTP requests go to the Hono app, mail jobs to the mail consumer, the daily Cron Trigger to the upkeep. */
export default {
  fetch: app.fetch,
  async queue(batch, env, _ctx) {
    if (batch.queue === DEAD_MAIL_QUEUE) await consumeDeadMail(batch, env)
    else await consumeMail(batch, env)
  },
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(runUpkeep(env, new Date(controller.scheduledTime)))
  },
} satisfies ExportedHandler<Bindings>

// The Durable Object class must be exported by the worker's main module.
export { RateLimiter } from './rate-limit/durable-object'
