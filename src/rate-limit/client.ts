import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { toBase64Url, utf8 } from '../lib/encoding'
import { clientNetwork } from '../lib/network'
import type { Admission } from './policy'

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

async function ask(c: Context<AppEnv>, login?: { subject: LoginSubject; lastSuccessAt: number | undefined }): Promise<Admission> {
  const { config, client } = c.var
  const [ipKey, loginKey] = await Promise.all([
    keyOf(c, 'ip', clientNetwork(client.ip ?? 'unknown')),
    login && subjectKey(c, login.subject),
  ])
  return limiterOf(c).admit({
    ipKey,
    loginKey,
    lastSuccessAt: login?.lastSuccessAt,
    now: Date.now(),
    perMinute: config.rateLimitPerIpPerMinute,
    freeFailures: config.loginFreeFailures,
  })
}

/** Spends from the client network's budget: one round trip to the limiter. */
export const admitRequest = (c: Context<AppEnv>) => ask(c)

/**
 * An attempt to prove who one is (a login, a second step, a re-authentication): the client
 * network's budget and the subject's failure streak, asked together in one round trip.
 * `lastSuccessAt` is the account's last_auth_at: a success is told to the limiter this way, at the
 * next attempt, so a success needs no second round trip.
 */
export function admitProofAttempt(c: Context<AppEnv>, subject: LoginSubject, lastSuccessAt: Date | null | undefined): Promise<Admission> {
  return ask(c, { subject, lastSuccessAt: lastSuccessAt?.getTime() })
}

/** An admin unlocked the account: forgets its failure streak, which lifts a lock. */
export async function resetLoginFailures(c: Context<AppEnv>, subject: LoginSubject): Promise<void> {
  await limiterOf(c).resetLogin(await subjectKey(c, subject))
}
