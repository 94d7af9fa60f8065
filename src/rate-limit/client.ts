import type { Context } from 'hono'
import type { AppEnv, Bindings } from '../app-env'
import { toBase64Url, utf8 } from '../lib/encoding'
import { clientNetworks } from '../lib/network'
import { type Admission, type Budget, WIDE_NETWORK_FACTOR } from './policy'

/**
 * The limiter is spread over this many Durable Object instances. Each key (a network, an account,
 * a name) always lives in the same one, chosen by a stable hash of the key, so one key's counts
 * stay exact and ordered while the whole service's load is divided among them.
 */
export const LIMITER_SHARDS = 32

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

/** The shard a key lives in: FNV-1a of the key (already an HMAC, so evenly spread) modulo the shards. */
export function shardOf(key: string): string {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return `shard-${(hash >>> 0) % LIMITER_SHARDS}`
}

type LimiterNamespace = Bindings['RATE_LIMITER']

const limiterFor = (namespace: LimiterNamespace, key: string) => namespace.get(namespace.idFromName(shardOf(key)))

/** Every shard, for the daily upkeep (and tests) that must visit them all. */
export const allLimiters = (namespace: LimiterNamespace) =>
  Array.from({ length: LIMITER_SHARDS }, (_, i) => namespace.get(namespace.idFromName(`shard-${i}`)))

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

/**
 * One admission. The network's budgets live in the network's shard (keyed by its widest network,
 * so an IPv6 /64 and its /48 are one object) and a subject's streak in the subject's shard; a
 * login asks both at once, so it still waits for one round trip. A streak counts an attempt when
 * it admits it; when the network's budget then refuses the request, the count is withdrawn, so a
 * request refused for its network never counts against the account.
 */
async function ask(c: Context<AppEnv>, login?: { subject: LoginSubject; lastSuccessAt: number | undefined }): Promise<Admission> {
  const namespace = c.env.RATE_LIMITER
  const now = Date.now()
  const freeFailures = c.var.config.loginFreeFailures
  const [budgets, loginKey] = await Promise.all([networkBudgets(c), login && subjectKey(c, login.subject)])
  const network = limiterFor(namespace, budgets.at(-1)!.key).admit({ budgets, now, freeFailures })
  if (!login || !loginKey) return network
  const streakShard = limiterFor(namespace, loginKey)
  const [byNetwork, byStreak] = await Promise.all([
    network,
    streakShard.admit({ budgets: [], loginKey, lastSuccessAt: login.lastSuccessAt, now, freeFailures }),
  ])
  if (byNetwork.allowed) return byStreak
  if (byStreak.allowed) await streakShard.withdraw(loginKey, byStreak.at)
  return byNetwork
}

/** Spends from the client network's budgets: one round trip to its shard. */
export const admitRequest = (c: Context<AppEnv>) => ask(c)

/** A profile change: the client network's budget and the account's PROFILE_CHANGES_PER_HOUR, in one round trip. */
export async function admitProfileChange(c: Context<AppEnv>, userId: string): Promise<Admission> {
  const byNetwork = await ask(c)
  if (!byNetwork.allowed) return byNetwork
  const key = await keyOf(c, 'profile', userId)
  const budgets = [{ key, limit: c.var.config.profileChangesPerHour, windowMs: HOUR_MS }]
  return limiterFor(c.env.RATE_LIMITER, key).admit({ budgets, now: Date.now(), freeFailures: c.var.config.loginFreeFailures })
}

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
  const key = await subjectKey(c, subject)
  await limiterFor(c.env.RATE_LIMITER, key).resetLogin(key)
}
