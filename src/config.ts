import { z } from 'zod'
import { importSigningKeys, type KeySet } from './auth/keys'
import { memoize } from './lib/memo'

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
  PASSWORD_PEPPER: z.string().optional(),
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
  pepper: Pepper | undefined
  keys: KeySet
}

export type Pepper = { id: string; key: CryptoKey }

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

  const pepper = vars.success && vars.data.PASSWORD_PEPPER ? await importPepper(vars.data.PASSWORD_PEPPER) : undefined
  if (vars.success && vars.data.PASSWORD_PEPPER !== undefined && vars.data.PASSWORD_PEPPER.length < 16) {
    problems.push({ name: 'PASSWORD_PEPPER', message: 'must be at least 16 characters when set' })
  }

  if (problems.length > 0 || !vars.success || !keys.ok) return { ok: false, problems }
  const v = vars.data
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
      pepper,
      keys: keys.keys,
    },
  }
}

const encoder = new TextEncoder()

async function importPepper(secret: string): Promise<Pepper> {
  const key = await crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  // A short public fingerprint stored with each hash, so a changed pepper is recognised
  // instead of silently failing every login.
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode('edge-users pepper id')))
  const id = Array.from(mac.subarray(0, 4), (byte) => byte.toString(16).padStart(2, '0')).join('')
  return { id, key }
}
