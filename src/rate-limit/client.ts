import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { toBase64Url, utf8 } from '../lib/encoding'
import { clientNetworks } from '../lib/network'
import { type Admission, type Budget, WIDE_NETWORK_FACTOR } from './policy'

/** Every worker isolate talks to the same limiter instance: the counters are global. */
export const LIMITER_NAME = 'global'

/**
 * What a login attempt counts against: an account (its username and email share one streak), or
 * a name that has no account. The limiter forgets a name's streak a day after its last attempt,
 * locked or not; an account's lock stays until an admin unlocks it.
 */
export type LoginSubject = { kind: 'account'; userId: string } | { kind: 'name'; name: string }

export const accountSubject = (userId: string): LoginSubject => ({ kind: 'account', userId })

/**
 * The limiter's name for an address or a subject: an HMAC under the configuration's throttle key,
 * so its storage holds nothing a dictionary of addresses or usernames could reverse.
 */
async function keyOf(c: Context<AppEnv>, kind: string, value: string): Promise<string> {
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', c.var.config.throttleKey, utf8.encode(`${kind}:${value}`)))
  return `${kind}:${toBase64Url(mac.subarray(0, 16))}`
}

const subjectKey = (c: Context<AppEnv>, subject: LoginSubject) =>
  subject.kind === 'account' ? keyOf(c, 'account', subject.userId) : keyOf(c, 'name', subject.name)

const limiterOf = (c: Context<AppEnv>) => c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(LIMITER_NAME))

const MINUTE_MS = 60_000
const HOUR_MS = 3_600_000

/** The client network's budgets: its own, and for IPv6 its /48's, WIDE_NETWORK_FACTOR times wider. */
async function networkBudgets(c: Context<AppEnv>): Promise<Budget[]> {
  const { config, client } = c.var
  const { network, wide } = clientNetworks(client.ip ?? 'unknown')
  const perMinute = config.rateLimitPerIpPerMinute
  return Promise.all([
    keyOf(c, 'ip', network).then((key) => ({ key, limit: perMinute, windowMs: MINUTE_MS })),
    ...(wide ? [keyOf(c, 'net48', wide).then((key) => ({ key, limit: perMinute * WIDE_NETWORK_FACTOR, windowMs: MINUTE_MS }))] : []),
  ])
}

async function ask(
  c: Context<AppEnv>,
  options: { login?: { subject: LoginSubject; lastSuccessAt: number | undefined }; extra?: Budget[] } = {},
): Promise<Admission> {
  const { login, extra = [] } = options
  const [budgets, loginKey] = await Promise.all([networkBudgets(c), login && subjectKey(c, login.subject)])
  return limiterOf(c).admit({
    budgets: [...budgets, ...extra],
    loginKey,
    lastSuccessAt: login?.lastSuccessAt,
    now: Date.now(),
    freeFailures: c.var.config.loginFreeFailures,
  })
}

/** Spends from the client network's budget: one round trip to the limiter. */
export const admitRequest = (c: Context<AppEnv>) => ask(c)

/** A profile change: the client network's budget and the account's PROFILE_CHANGES_PER_HOUR, in one round trip. */
export async function admitProfileChange(c: Context<AppEnv>, userId: string): Promise<Admission> {
  const key = await keyOf(c, 'profile', userId)
  return ask(c, { extra: [{ key, limit: c.var.config.profileChangesPerHour, windowMs: HOUR_MS }] })
}

/**
 * An attempt to prove who one is (a login, a second step, a re-authentication): the client
 * network's budget and the subject's failure streak, asked together in one round trip.
 * `lastSuccessAt` is the account's last_auth_at: a success is told to the limiter this way, at the
 * next attempt, so a success needs no second round trip.
 */
export function admitProofAttempt(c: Context<AppEnv>, subject: LoginSubject, lastSuccessAt: Date | null | undefined): Promise<Admission> {
  return ask(c, { login: { subject, lastSuccessAt: lastSuccessAt?.getTime() } })
}

/** An admin unlocked the account: forgets its failure streak, which lifts a lock. */
export async function resetLoginFailures(c: Context<AppEnv>, subject: LoginSubject): Promise<void> {
  await limiterOf(c).resetLogin(await subjectKey(c, subject))
}
