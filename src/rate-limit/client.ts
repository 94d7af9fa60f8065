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

/** The shard a key lives in: FNV-1a of the key (already an HMAC, so evenly spread) modulo the shards. */
export function shardOf(key: string): string {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193)
  return `shard-${(hash >>> 0) % LIMITER_SHARDS}`
}

// The generated Env (worker-configuration.d.ts), not app-env's Bindings: app-env names this module's Limiter.
type LimiterNamespace = Env['RATE_LIMITER']

const limiterFor = (namespace: LimiterNamespace, key: string) => namespace.get(namespace.idFromName(shardOf(key)))

/** Every shard, for the daily upkeep (and tests) that must visit them all. */
export const allLimiters = (namespace: LimiterNamespace) =>
  Array.from({ length: LIMITER_SHARDS }, (_, i) => namespace.get(namespace.idFromName(`shard-${i}`)))

const MINUTE_MS = 60_000
const HOUR_MS = 3_600_000

/** What the limiter needs of the configuration (which satisfies it). */
export type LimiterSettings = {
  /** Keys the limiter's names, so its storage holds nothing a dictionary of addresses reverses. */
  throttleKey: CryptoKey
  rateLimitPerIpPerMinute: number
  loginFreeFailures: number
  profileChangesPerHour: number
}

/** The limiter as one request uses it, made once per request (middleware/config.ts). */
export type Limiter = ReturnType<typeof createLimiter>

/**
 * A request's view of the limiter: its namespace, the settings, and the client's address. Made
 * from those alone, not from an HTTP context, so a hosted page, an authorization endpoint or a
 * script asks it the same way a route does.
 */
export function createLimiter(namespace: LimiterNamespace, settings: LimiterSettings, clientIp: string | null) {
  /**
   * The limiter's name for an address or a subject: an HMAC under the throttle key, so its
   * storage holds nothing a dictionary of addresses or usernames could reverse.
   */
  async function keyOf(kind: string, value: string): Promise<string> {
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', settings.throttleKey, utf8.encode(`${kind}:${value}`)))
    return `${kind}:${toBase64Url(mac.subarray(0, 16))}`
  }

  const subjectKey = (subject: LoginSubject) =>
    subject.kind === 'account' ? keyOf('account', subject.userId) : keyOf('name', subject.name)

  /** The client network's budgets: its own, and for IPv6 its /48's, WIDE_NETWORK_FACTOR times wider. */
  async function networkBudgets(): Promise<Budget[]> {
    const { network, wide } = clientNetworks(clientIp ?? 'unknown')
    const perMinute = settings.rateLimitPerIpPerMinute
    return Promise.all([
      keyOf('ip', network).then((key) => ({ key, limit: perMinute, windowMs: MINUTE_MS })),
      ...(wide ? [keyOf('net48', wide).then((key) => ({ key, limit: perMinute * WIDE_NETWORK_FACTOR, windowMs: MINUTE_MS }))] : []),
    ])
  }

  /**
   * One admission. The network's budgets live in the network's shard (keyed by its widest network,
   * so an IPv6 /64 and its /48 are one object) and a subject's streak in the subject's shard; a
   * login asks both at once, so it still waits for one round trip. A streak counts an attempt when
   * it admits it; when the network's budget then refuses the request, the count is withdrawn, so a
   * request refused for its network never counts against the account.
   */
  async function ask(login?: { subject: LoginSubject; lastSuccessAt: number | undefined }): Promise<Admission> {
    const now = Date.now()
    const freeFailures = settings.loginFreeFailures
    const [budgets, loginKey] = await Promise.all([networkBudgets(), login && subjectKey(login.subject)])
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

  return {
    /** Spends from the client network's budgets: one round trip to its shard. */
    admitRequest: () => ask(),

    /** A profile change: the client network's budget and the account's PROFILE_CHANGES_PER_HOUR, in one round trip. */
    async admitProfileChange(userId: string): Promise<Admission> {
      const byNetwork = await ask()
      if (!byNetwork.allowed) return byNetwork
      const key = await keyOf('profile', userId)
      const budgets = [{ key, limit: settings.profileChangesPerHour, windowMs: HOUR_MS }]
      return limiterFor(namespace, key).admit({ budgets, now: Date.now(), freeFailures: settings.loginFreeFailures })
    },

    /**
     * An attempt to prove who one is (a login, a second step, a re-authentication): the client
     * network's budget and the subject's failure streak, asked together in one round trip.
     * `lastSuccessAt` is the account's last_auth_at: a success is told to the limiter this way, at
     * the next attempt, so a success needs no second round trip.
     */
    admitProofAttempt: (subject: LoginSubject, lastSuccessAt: Date | null | undefined): Promise<Admission> =>
      ask({ subject, lastSuccessAt: lastSuccessAt?.getTime() }),

    /** Forgets the subject's failure streak (an admin's unlock, a reset through the mailbox), which lifts a lock. */
    async resetLoginFailures(subject: LoginSubject): Promise<void> {
      const key = await subjectKey(subject)
      await limiterFor(namespace, key).resetLogin(key)
    },
  }
}
