import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import { sha256, toBase64Url } from '../encoding'
import type { AppEnv } from '../env'
import { ApiError } from '../errors'
import type { Admission } from '../rate-limiter'

/** Every worker isolate talks to the same limiter instance: the counters are global. */
const LIMITER_NAME = 'global'

// Hashed, so the limiter's storage holds no address or login name in clear.
const keyOf = async (kind: string, value: string) => `${kind}:${toBase64Url((await sha256(`${kind}:${value}`)).subarray(0, 16))}`

export const rateLimited = (retryAfterSeconds: number) =>
  new ApiError(429, 'rate_limited', 'Too many attempts; wait before trying again.', {
    headers: { 'Retry-After': String(retryAfterSeconds) },
  })

/**
 * Asks the limiter, in one round trip, whether this request may proceed: always against the
 * client address's budget, and for a login also against the account's failure streak.
 */
export async function admit(c: Context<AppEnv>, loginKey?: string): Promise<Admission> {
  const { config, client } = c.var
  const limiter = c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(LIMITER_NAME))
  return limiter.admit({
    ipKey: await keyOf('ip', client.ip ?? 'unknown'),
    loginKey: loginKey === undefined ? undefined : await keyOf('login', loginKey),
    now: Date.now(),
    perMinute: config.rateLimitPerIpPerMinute,
    freeFailures: config.loginFreeFailures,
  })
}

/** Forgets an account's failure streak (successful login, admin enable); lifts a lock. */
export async function resetLoginFailures(c: Context<AppEnv>, loginKey: string): Promise<void> {
  const limiter = c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(LIMITER_NAME))
  await limiter.resetLogin(await keyOf('login', loginKey))
}

/** The account a login counts against: one key for its username and email alike. */
export const accountLoginKey = (userId: string) => `user:${userId}`

/** For unauthenticated POSTs other than login: spend from the client address's budget or 429. */
export function ipBudget() {
  return createMiddleware<AppEnv>(async function spendIpBudget(c, next) {
    const admission = await admit(c)
    if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)
    await next()
  })
}
