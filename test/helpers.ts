import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { expect } from 'vitest'
import worker from '../src/index'

export const ORIGIN = 'https://edge-users.test'
export const API = `${ORIGIN}/api/v1`

type CallOptions = {
  method?: string
  /** Sent as JSON with Content-Type: application/json. */
  json?: unknown
  /** Sent as it is, for tests of malformed bodies. */
  rawBody?: BodyInit
  headers?: Record<string, string>
  token?: string
  /** Overrides of the worker's bindings for this one request (configuration tests). */
  env?: Record<string, unknown>
}

let ipCounter = 0
/** A fresh client address, so unrelated tests never share a per-IP budget. */
export const freshIp = () => `198.18.${Math.floor(++ipCounter / 250) % 250}.${(ipCounter % 250) + 1}`

/** One HTTP request to the worker running in workerd, the way a client sends it. */
export async function call(path: string, options: CallOptions = {}): Promise<Response> {
  const headers = new Headers(options.headers)
  let body = options.rawBody
  if (options.json !== undefined) {
    body = JSON.stringify(options.json)
    if (!headers.has('Content-Type')) headers.set('Content-Type', 'application/json')
  }
  if (options.token !== undefined) headers.set('Authorization', `Bearer ${options.token}`)
  if (!headers.has('CF-Connecting-IP')) headers.set('CF-Connecting-IP', freshIp())
  const url = path.startsWith('http') ? path : `${API}${path}`
  const request = new Request(url, { method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers, body })
  // Through the worker's fetch handler with an execution context we wait on: no route defers work
  // with waitUntil today, and if one ever does, a test still sees its writes done.
  const ctx = createExecutionContext()
  const response = await worker.fetch(request, options.env ? { ...env, ...options.env } : env, ctx)
  await waitOnExecutionContext(ctx)
  return response
}

let accountCounter = 0
export type Account = { username: string; email: string; password: string }

/** A valid, unused account: unique names and a password the policy accepts. */
export function newAccount(overrides: Partial<Account> = {}): Account {
  const n = ++accountCounter
  const tag = crypto.randomUUID().slice(0, 8)
  return {
    username: `user${n}_${tag}`,
    email: `person${n}.${tag}@example.com`,
    password: `violet-harbour-${tag}-lantern`,
    ...overrides,
  }
}

export type PublicUser = {
  id: string
  username: string
  email: string
  role: 'user' | 'moderator' | 'admin'
  email_verified: boolean
  created_at: string
}

export async function signup(overrides: Partial<Account> = {}, options: CallOptions = {}) {
  const account = newAccount(overrides)
  const response = await call('/users/signup', { ...options, json: account })
  expect(response.status, await describe(response)).toBe(201)
  const { user } = (await response.json()) as { user: PublicUser }
  return { account, user }
}

export type TokenPair = {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  refresh_expires_in: number
  user: PublicUser
}

export async function login(account: Pick<Account, 'username' | 'password'>, options: CallOptions = {}): Promise<TokenPair> {
  const response = await call('/users/login', { ...options, json: { username: account.username, password: account.password } })
  expect(response.status, await describe(response)).toBe(200)
  return (await response.json()) as TokenPair
}

/** A new account, signed in. */
export async function signedIn(overrides: Partial<Account> = {}) {
  const { account, user } = await signup(overrides)
  const tokens = await login(account)
  return { account, user, tokens }
}

export type Problem = {
  type: string
  title: string
  status: number
  detail: string
  code: string
  request_id: string
  errors?: { path: string; message: string }[]
  [extension: string]: unknown
}

/** Asserts an RFC 9457 problem with the contract's status and code, and returns its body. */
export async function expectProblem(response: Response, status: number, code: string): Promise<Problem> {
  const text = await response.text()
  expect(response.status, text).toBe(status)
  expect(response.headers.get('Content-Type')).toBe('application/problem+json')
  const problem = JSON.parse(text) as Problem
  expect(problem).toMatchObject({ type: `/problems/${code}`, status, code })
  expect(problem.title).toEqual(expect.any(String))
  expect(problem.detail).toEqual(expect.any(String))
  expect(problem.request_id).toBe(response.headers.get('X-Request-Id'))
  return problem
}

/** The failing field paths of a validation_failed problem. */
export async function failingFields(response: Response): Promise<string[]> {
  const problem = await expectProblem(response, 400, 'validation_failed')
  return (problem.errors ?? []).map((error) => error.path).sort()
}

async function describe(response: Response): Promise<string> {
  return response.ok ? '' : `${response.status} ${await response.clone().text()}`
}

export function decodeJwtPart(part: string): Record<string, unknown> {
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/')
  return JSON.parse(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '='))) as Record<string, unknown>
}

/** Reads a row straight from D1, for assertions about what is stored (never to arrange a test). */
export function storedUser(username: string) {
  return env.DB.prepare('SELECT * FROM users WHERE username_normalized = ?').bind(username.toLowerCase()).first<Record<string, unknown>>()
}

const encodeSegment = (value: unknown) =>
  btoa(typeof value === 'string' ? value : JSON.stringify(value))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')

const bytesToBase64Url = (bytes: ArrayBuffer) =>
  btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')

/**
 * Signs any header and claims with the test run's real Ed25519 key (or the spare one), so attack
 * tests show the server refusing a token for what it says, not for a bad signature. `header` and
 * `claims` may be raw JSON text, for duplicated members.
 */
export async function signToken(header: object | string, claims: object | string, which: 'configured' | 'spare' = 'configured') {
  const jwk =
    which === 'configured'
      ? (JSON.parse(env.JWT_PRIVATE_KEYS) as Record<string, string>[])[0]!
      : (JSON.parse(env.TEST_SPARE_KEY) as Record<string, string>)
  const key = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }, { name: 'Ed25519' }, false, ['sign'])
  const input = `${encodeSegment(header)}.${encodeSegment(claims)}`
  return `${input}.${bytesToBase64Url(await crypto.subtle.sign({ name: 'Ed25519' }, key, new TextEncoder().encode(input)))}`
}

/** An HS256 token whose HMAC secret is the given text (e.g. our public key). */
export async function signHs256(header: object, claims: object, secret: string) {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const input = `${encodeSegment(header)}.${encodeSegment(claims)}`
  return `${input}.${bytesToBase64Url(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(input)))}`
}

export const configuredKid = () => (JSON.parse(env.JWT_PRIVATE_KEYS) as { kid: string }[])[0]!.kid
export const spareKey = () => JSON.parse(env.TEST_SPARE_KEY) as { kid: string; x: string }

export const claimsOf = (accessToken: string) => decodeJwtPart(accessToken.split('.')[1]!)

export function me(token: string, options: Omit<CallOptions, 'token'> = {}) {
  return call('/users/me', { ...options, token })
}

export function refresh(refreshToken: string, options: CallOptions = {}) {
  return call('/users/refresh', { ...options, json: { refresh_token: refreshToken } })
}

/** Runs the statements `npm run admin:promote` runs, against this test file's D1. */
export async function promoteToAdmin(identifier: string) {
  const { promoteToAdminStatements } = await import('../src/db/promote')
  await env.DB.batch(promoteToAdminStatements(identifier).map((statement) => env.DB.prepare(statement)))
}

/** A signed-in admin, bootstrapped the way the README says: sign up, promote, log in. */
export async function asAdmin() {
  const { account } = await signup()
  await promoteToAdmin(account.username)
  const tokens = await login(account)
  return { account, user: tokens.user, tokens, token: tokens.access_token }
}

/** A signed-in moderator, made one by an admin through the admin API. */
export async function asModerator(by?: { token: string }) {
  const { account, user } = await signup()
  const admin = by ?? (await asAdmin())
  const response = await call(`/admin/users/${user.id}`, { method: 'PATCH', token: admin.token, json: { role: 'moderator' } })
  expect(response.status, await response.clone().text()).toBe(200)
  const tokens = await login(account)
  return { account, user: tokens.user, tokens, token: tokens.access_token }
}

export function adminCall(token: string, path: string, options: Omit<CallOptions, 'token'> = {}) {
  return call(`/admin${path}`, { ...options, token })
}

/** A mail as the Email Service binding received it. */
export type SentMail = { from: string; to: string; subject: string; text: string; html: string }

/**
 * Stand-ins for the two platform bindings mail passes through, so a test sees exactly what a
 * request queued and what the consumer sent: routes get `queue.binding` as MAIL_QUEUE, and
 * `deliver()` hands the queued jobs to the worker's own queue() handler.
 */
export function mailRig(options: { failSends?: number } = {}) {
  const jobs: unknown[] = []
  const sent: SentMail[] = []
  let failures = options.failSends ?? 0
  const queue = {
    async send(body: unknown) {
      jobs.push(body)
    },
    async sendBatch(messages: { body: unknown }[]) {
      for (const message of messages) jobs.push(message.body)
    },
  }
  const email = {
    async send(message: SentMail) {
      if (failures > 0) {
        failures--
        throw new Error('the provider is down')
      }
      sent.push(message)
      return { messageId: `m-${sent.length}` }
    },
  }
  return { jobs, sent, env: { MAIL_QUEUE: queue }, email, failNextSends: (n: number) => (failures = n) }
}

/** Delivers message bodies to the worker's queue() handler as the platform would; returns what it acked and retried. */
export async function deliver(
  bodies: unknown[],
  rig: ReturnType<typeof mailRig>,
  options: { attempts?: number; queue?: string; env?: Record<string, unknown> } = {},
) {
  const batch = createMessageBatch(
    options.queue ?? 'edge-users-mail',
    bodies.map((body, i) => ({ id: `msg-${i}-${crypto.randomUUID()}`, timestamp: new Date(), attempts: options.attempts ?? 1, body })),
  )
  // The pool reports which messages were retried but not the delay asked for; keep it here.
  const retryDelays: (number | undefined)[] = []
  for (const message of batch.messages) {
    const retry = message.retry.bind(message)
    message.retry = (retryOptions) => {
      retryDelays.push(retryOptions?.delaySeconds)
      retry(retryOptions)
    }
  }
  const ctx = createExecutionContext()
  await worker.queue(batch, { ...env, EMAIL: rig.email, ...options.env } as unknown as typeof env, ctx)
  return { ...(await getQueueResult(batch, ctx)), retryDelays }
}

/** The token in a mail's link, and the link itself. */
export function linkIn(mail: SentMail | undefined): { link: string; token: string } {
  const match = /(https?:\/\/\S+#token=([A-Za-z0-9_-]+))/.exec(mail?.text ?? '')
  if (!match) throw new Error('the mail has no link')
  return { link: match[1]!, token: match[2]! }
}

/** A fetch that hands each request to the worker, as hono/client's `fetch` option takes it. */
export async function workerFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const request = new Request(input, init)
  if (!request.headers.has('CF-Connecting-IP')) request.headers.set('CF-Connecting-IP', freshIp())
  const ctx = createExecutionContext()
  const response = await worker.fetch(request, env, ctx)
  await waitOnExecutionContext(ctx)
  return response
}

/** base32 (RFC 4648, no padding) to bytes, as an authenticator app reads a TOTP secret. */
function fromBase32(text: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  const bytes: number[] = []
  let bits = 0
  let value = 0
  for (const char of text.replace(/=+$/, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(char)
    bits += 5
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return new Uint8Array(bytes)
}

/**
 * An authenticator app written for the tests (RFC 4226 / 6238 on WebCrypto, apart from the
 * server's library): the code for a secret at a moment, `digits` long.
 */
export async function totpFor(secret: Uint8Array, at = Date.now(), digits = 6): Promise<string> {
  const counter = Math.floor(at / 1000 / 30)
  const message = new DataView(new ArrayBuffer(8))
  message.setUint32(0, Math.floor(counter / 2 ** 32))
  message.setUint32(4, counter >>> 0)
  const key = await crypto.subtle.importKey('raw', secret as Uint8Array<ArrayBuffer>, { name: 'HMAC', hash: 'SHA-1' }, false, ['sign'])
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, message.buffer))
  const offset = mac[19]! & 0x0f
  const binary = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!
  return String(binary % 10 ** digits).padStart(digits, '0')
}

/** The secret an otpauth:// URI carries, as an app scanning its QR code reads it. */
export function secretOf(otpauthUri: string): Uint8Array {
  const secret = new URL(otpauthUri).searchParams.get('secret')
  if (!secret) throw new Error('the URI has no secret')
  return fromBase32(secret)
}

/**
 * A new account whose owner proved the address the way a person does (the signup mail's link),
 * then signed in: what adding a way in (TOTP, a passkey, a linked identity) needs.
 */
export async function verifiedSignedIn(overrides: Partial<Account> = {}) {
  const rig = mailRig()
  const { account, user } = await signup(overrides, { env: rig.env })
  await deliver(rig.jobs.splice(0), rig)
  const verified = await call('/users/email/verify', { json: { token: linkIn(rig.sent.find((mail) => mail.to === account.email)).token } })
  expect(verified.status, await describe(verified)).toBe(200)
  const tokens = await login(account)
  return { account, user: { ...user, email_verified: true }, tokens }
}

/** A signed-in account with an active TOTP factor: its secret, recovery codes and (aal2) tokens. */
export async function withTotp(overrides: Partial<Account> = {}) {
  const { account, user, tokens } = await verifiedSignedIn(overrides)
  const started = await call('/users/me/mfa/totp', { token: tokens.access_token, json: { password: account.password } })
  expect(started.status, await describe(started)).toBe(200)
  const enrolment = (await started.json()) as { secret: string; otpauth_uri: string; qr_svg: string }
  const secret = secretOf(enrolment.otpauth_uri)
  const confirmed = await call('/users/me/mfa/totp/confirm', { token: tokens.access_token, json: { code: await totpFor(secret) } })
  expect(confirmed.status, await describe(confirmed)).toBe(200)
  const { recovery_codes } = (await confirmed.json()) as { recovery_codes: string[] }
  return { account, user, tokens, secret, enrolment, recoveryCodes: recovery_codes }
}

/** The keys every limiter shard has stored under a prefix (a test reads the state; it never arranges it). */
export async function limiterStorageKeys(prefix: string): Promise<string[]> {
  const { allLimiters } = await import('../src/rate-limit/client')
  const { runInDurableObject } = await import('cloudflare:test')
  const perShard = await Promise.all(
    allLimiters(env.RATE_LIMITER).map((limiter) =>
      runInDurableObject(limiter, (_instance, state) => [...state.storage.kv.list({ prefix })].map(([key]) => key)),
    ),
  )
  return perShard.flat()
}

/** Evicts every running limiter shard from memory, as the platform may at any time. */
export async function evictLimiters(): Promise<void> {
  const { allLimiters } = await import('../src/rate-limit/client')
  const { evictDurableObject } = await import('cloudflare:test')
  // A shard no request has woken is not running, and has nothing in memory to lose.
  await Promise.all(allLimiters(env.RATE_LIMITER).map((limiter) => evictDurableObject(limiter).catch(() => undefined)))
}
