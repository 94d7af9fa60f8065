import app from './app'
import type { Bindings } from './app-env'

/** The worker: HTTP requests go to the Hono app. */
export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Bindings>

// The Durable Object class must be exported by the worker's main module.
export { RateLimiter } from './rate-limit/durable-object'
