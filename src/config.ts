import { z } from 'zod'
import { importSigningKeys, type KeySet } from './auth/keys'
import { memoize } from './lib/memo'

/** A pepper is a secret key: as much randomness as the HMAC-SHA-256 it keys. */
const PEPPER_MIN_BYTES = 32

function decodedLength(value: string): number {
  const trimmed = value.trim()
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return 0
  try {
    return atob(
      trimmed
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .replace(/=+$/, '')
        .padEnd(Math.ceil(trimmed.replace(/=+$/, '').length / 4) * 4, '='),
    ).length
  } catch {
    return 0
  }
}

/** Cloudflare's production runtime refuses PBKDF2 above this; local workerd does not, so we do. */
export const PBKDF2_MAX_ITERATIONS = 100_000

const integer = (min: number, max: number, fallback: number, why = '') =>
  z
    .union([z.string(), z.number()])
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return fallback
      const parsed = typeof value === 'number' ? value : /^\s*-?\d+\s*$/.test(value) ? Number(value) : NaN
      if (!Number.isSafeInteger(parsed)) {
        ctx.addIssue({ code: 'custom', message: 'must be a whole number' })
        return z.NEVER
      }
      if (parsed < min || parsed > max) {
        ctx.addIssue({ code: 'custom', message: `must be between ${min} and ${max}${why}` })
        return z.NEVER
      }
      return parsed
    })

const text = (fallback: string) =>
  z
    .string()
    .max(256)
    .optional()
    .transform((value) => (value === undefined || value.trim() === '' ? fallback : value.trim()))

const origins = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const list = (value ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean)
    for (const origin of list) {
      if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
        ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of origins such as https://app.example.com' })
        return z.NEVER
      }
    }
    return list
  })

const flag = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const normalised = value?.trim().toLowerCase()
      if (normalised === undefined || normalised === '') return fallback
      if (normalised === 'true' || normalised === 'false') return normalised === 'true'
      ctx.addIssue({ code: 'custom', message: 'must be true or false' })
      return z.NEVER
    })

const origin = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const trimmed = value?.trim() || fallback
      if (!URL.canParse(trimmed) || new URL(trimmed).origin !== trimmed.replace(/\/$/, '')) {
        ctx.addIssue({ code: 'custom', message: 'must be an origin such as https://app.example.com' })
        return z.NEVER
      }
      return new URL(trimmed).origin
    })

const mailbox = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((value) => value?.trim() || fallback)
    .pipe(z.email('must be an email address'))

const varsSchema = z.object({
  JWT_ISSUER: text('edge-users'),
  JWT_AUDIENCE: text('edge-users-api'),
  ACCESS_TOKEN_TTL_SECONDS: integer(30, 86_400, 900),
  REFRESH_TOKEN_TTL_SECONDS: integer(60, 31_536_000, 2_592_000),
  PBKDF2_ITERATIONS: integer(1_000, PBKDF2_MAX_ITERATIONS, PBKDF2_MAX_ITERATIONS, " (Cloudflare's production runtime refuses more)"),
  PASSWORD_MIN_LENGTH: integer(8, 64, 15),
  RATE_LIMIT_PER_IP_PER_MINUTE: integer(1, 1_000_000, 30),
  LOGIN_FREE_FAILURES: integer(1, 99, 5),
  CORS_ORIGINS: origins,
  APP_URL: origin('http://localhost:5173'),
  MAIL_FROM: mailbox('edge-users@example.com'),
  EMAIL_VERIFICATION_REQUIRED: flag(false),
  RESET_TOKEN_TTL_SECONDS: integer(60, 86_400, 1800),
  VERIFY_TOKEN_TTL_SECONDS: integer(300, 604_800, 86_400),
  MAIL_PER_ADDRESS_PER_HOUR: integer(1, 100, 3),
  PASSWORD_PEPPER: z
    .string()
    .optional()
    .refine((value) => value === undefined || value === '' || decodedLength(value) >= PEPPER_MIN_BYTES, {
      message: `must be base64 of at least ${PEPPER_MIN_BYTES} random bytes (openssl rand -base64 32)`,
    }),
  PASSWORD_PEPPER_ID: z
    .string()
    .optional()
    .transform((value) => value?.trim() || '1')
    .pipe(z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 characters of A-Z a-z 0-9 _ -')),
  REFRESH_REUSE_GRACE_SECONDS: integer(0, 60, 10),
  AUDIT_RETENTION_DAYS: integer(1, 3650, 365),
  LOG_REQUESTS: flag(false),
  AUTH_READ_MODE: z
    .string()
    .optional()
    .transform((value) => value?.trim().toLowerCase() || 'strict')
    .pipe(z.enum(['strict', 'replica'], { message: 'must be strict or replica' })),
  REPORT_D1_USAGE: flag(false),
})

export type Config = {
  issuer: string
  audience: string
  accessTokenTtlSeconds: number
  refreshTokenTtlSeconds: number
  pbkdf2Iterations: number
  passwordMinLength: number
  rateLimitPerIpPerMinute: number
  loginFreeFailures: number
  corsOrigins: string[]
  /** The client application's origin, for links in mails. */
  appUrl: string
  mailFrom: string
  emailVerificationRequired: boolean
  resetTokenTtlSeconds: number
  verifyTokenTtlSeconds: number
  mailPerAddressPerHour: number
  refreshReuseGraceSeconds: number
  auditRetentionDays: number
  /** One log line per request; errors and security events are logged regardless. */
  logRequests: boolean
  /**
   * Where an authenticated read (the session and its user) may come from: `strict`, the D1 primary
   * only, so a logout, a revocation or a disabled account counts on the very next request; or
   * `replica`, any read replica, which may lag the primary (see SECURITY.md).
   */
  authReadMode: 'strict' | 'replica'
  /** An `X-D1-Usage` header on every response: the request's D1 queries, rows read and written. */
  reportD1Usage: boolean
  pepper: Pepper | undefined
  keys: KeySet
  /** Keys the limiter's names for addresses and accounts, so its storage holds nothing reversible. */
  throttleKey: CryptoKey
  /** Derives a rotated refresh token from the one presented, so a retried refresh gets the same one back. */
  refreshKey: CryptoKey
}

/**
 * `id` is the operator's label for the pepper, stored with each hash. `legacyId` is the fingerprint
 * earlier versions stored instead (an HMAC of a constant under the pepper): still recognised when
 * checking a password, never written again.
 */
export type Pepper = { id: string; legacyId: string; key: CryptoKey }

export type ConfigProblem = { name: string; message: string }
export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] }

/** What the configuration is read from: the worker's bindings (vars and secrets). */
export type ConfigSource = { readonly JWT_PRIVATE_KEYS?: string }

/** The configuration, parsed (and its keys imported) once per bindings object, so once per isolate. */
export const readConfig: (bindings: ConfigSource) => Promise<ConfigResult> = memoize(parseConfig)

async function parseConfig(bindings: ConfigSource): Promise<ConfigResult> {
  const problems: ConfigProblem[] = []
  const vars = varsSchema.safeParse(bindings)
  if (!vars.success) {
    for (const issue of vars.error.issues) {
      // Only the name and the rule: a value may be a secret.
      problems.push({ name: String(issue.path[0]), message: issue.message })
    }
  }

  const keys = await importSigningKeys(bindings.JWT_PRIVATE_KEYS)
  if (!keys.ok) problems.push({ name: 'JWT_PRIVATE_KEYS', message: keys.message })

  if (problems.length > 0 || !vars.success || !keys.ok) return { ok: false, problems }
  const v = vars.data
  const pepper = v.PASSWORD_PEPPER ? await importPepper(v.PASSWORD_PEPPER, v.PASSWORD_PEPPER_ID) : undefined
  return {
    ok: true,
    config: {
      issuer: v.JWT_ISSUER,
      audience: v.JWT_AUDIENCE,
      accessTokenTtlSeconds: v.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: v.REFRESH_TOKEN_TTL_SECONDS,
      pbkdf2Iterations: v.PBKDF2_ITERATIONS,
      passwordMinLength: v.PASSWORD_MIN_LENGTH,
      rateLimitPerIpPerMinute: v.RATE_LIMIT_PER_IP_PER_MINUTE,
      loginFreeFailures: v.LOGIN_FREE_FAILURES,
      corsOrigins: v.CORS_ORIGINS,
      appUrl: v.APP_URL,
      mailFrom: v.MAIL_FROM,
      emailVerificationRequired: v.EMAIL_VERIFICATION_REQUIRED,
      resetTokenTtlSeconds: v.RESET_TOKEN_TTL_SECONDS,
      verifyTokenTtlSeconds: v.VERIFY_TOKEN_TTL_SECONDS,
      mailPerAddressPerHour: v.MAIL_PER_ADDRESS_PER_HOUR,
      refreshReuseGraceSeconds: v.REFRESH_REUSE_GRACE_SECONDS,
      auditRetentionDays: v.AUDIT_RETENTION_DAYS,
      logRequests: v.LOG_REQUESTS,
      authReadMode: v.AUTH_READ_MODE,
      reportD1Usage: v.REPORT_D1_USAGE,
      pepper,
      keys: keys.keys,
      // The pepper is kept apart from the database and rarely changes; without one, the signing key.
      throttleKey: await deriveHmacKey(v.PASSWORD_PEPPER || keys.keys.seed, 'edge-users throttle keys'),
      refreshKey: await deriveHmacKey(v.PASSWORD_PEPPER || keys.keys.seed, 'edge-users refresh tokens'),
    },
  }
}

const encoder = new TextEncoder()

async function importPepper(secret: string, id: string): Promise<Pepper> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode('edge-users pepper id')))
  const legacyId = Array.from(mac.subarray(0, 4), (byte) => byte.toString(16).padStart(2, '0')).join('')
  return { id, legacyId, key }
}

/** A key for one purpose, from a configured secret: HKDF-SHA-256 with the purpose as its info. */
async function deriveHmacKey(secret: string, purpose: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey('raw', encoder.encode(secret), 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(32), info: encoder.encode(purpose) },
    base,
    { name: 'HMAC', hash: 'SHA-256', length: 256 },
    false,
    ['sign'],
  )
}
