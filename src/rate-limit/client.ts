import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { ApiError } from '../errors'
import { sha256, toBase64Url } from '../lib/encoding'
import type { Admission } from './durable-object'

/** Every worker isolate talks to the same limiter instance: the counters are global. */
export const LIMITER_NAME = 'global'

// Hashed, so the limiter's storage holds no address or login name in clear.
const keyOf = async (kind: string, value: string) => `${kind}:${toBase64Url((await sha256(`${kind}:${value}`)).subarray(0, 16))}`

export const rateLimited = (retryAfterSeconds: number) =>
  new ApiError(429, 'rate_limited', 'Too many attempts; wait before trying again.', {
    headers: { 'Retry-After': String(retryAfterSeconds) },
  })

const limiterOf = (c: Context<AppEnv>) => c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(LIMITER_NAME))

async function ask(c: Context<AppEnv>, login?: { key: string; lastSuccessAt: number | undefined }): Promise<Admission> {
  const { config, client } = c.var
  const [ipKey, loginKey] = await Promise.all([keyOf('ip', client.ip ?? 'unknown'), login && keyOf('login', login.key)])
  return limiterOf(c).admit({
    ipKey,
    loginKey,
    lastSuccessAt: login?.lastSuccessAt,
    now: Date.now(),
    perMinute: config.rateLimitPerIpPerMinute,
    freeFailures: config.loginFreeFailures,
  })
}

/** Spends from the client address's budget: one round trip to the limiter. */
export const admitRequest = (c: Context<AppEnv>) => ask(c)

/**
 * A login attempt: the client address's budget and the account's failure streak, asked together
 * in one round trip. `lastSuccessAt` is the account's last_login_at: a success is told to the
 * limiter this way, at the next attempt, so a successful login needs no second round trip.
 */
export function admitLogin(c: Context<AppEnv>, account: string, lastSuccessAt: Date | null | undefined): Promise<Admission> {
  return ask(c, { key: account, lastSuccessAt: lastSuccessAt?.getTime() })
}

/** An admin enabled the account: forgets its failure streak, which lifts a lock. */
export async function resetLoginFailures(c: Context<AppEnv>, account: string): Promise<void> {
  await limiterOf(c).resetLogin(await keyOf('login', account))
}

/** The account a login counts against: one key for its username and email alike. */
export const accountLoginKey = (userId: string) => `user:${userId}`
