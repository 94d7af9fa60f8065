/**
 * The benchmark's peer: Better Auth on Hono and D1 as a team would start with it, at its
 * defaults (email and password sign-in, scrypt password hashes, cookie sessions), telemetry off.
 * `/hello` is the bare Hono route that edge-users' hello is compared with.
 */
import { betterAuth } from 'better-auth'
import { Hono } from 'hono'

type Bindings = { DB: D1Database; BETTER_AUTH_SECRET: string; BETTER_AUTH_URL: string }

// One instance per isolate, built on first use from the bindings the runtime reuses.
let auth: ReturnType<typeof betterAuth> | undefined
const authFor = (env: Bindings) => {
  auth ??= betterAuth({
    database: env.DB,
    secret: env.BETTER_AUTH_SECRET,
    baseURL: env.BETTER_AUTH_URL,
    basePath: '/api/auth',
    emailAndPassword: { enabled: true },
    telemetry: { enabled: false },
  })
  return auth
}

const app = new Hono<{ Bindings: Bindings }>()

app.get('/hello', (c) => c.json({ msg: 'hello world' }))
app.on(['GET', 'POST'], '/api/auth/*', (c) => authFor(c.env).handler(c.req.raw))

export default app
