import { z } from 'zod'
import { deriveHmacKey, importHmacKey, sealingKey } from './auth/derive'
import { importSigningKeys } from './auth/keys'
import type { ProviderSettings } from './auth/oauth'
import { PBKDF2_MAX_ITERATIONS, type Pepper } from './auth/password'
import { memoize } from './lib/memo'

/*
 * Every setting is one entry of SETTINGS: the variable's name in wrangler.toml (or a secret's
 * name), and the schema that checks it and turns it into what the code uses. `Config` is inferred
 * from those entries, so adding a variable is wrangler.toml plus one line here.
 */

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

const isOrigin = (value: string) => URL.canParse(value) && new URL(value).origin === value.replace(/\/$/, '')

const origins = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const list = (value ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean)
    if (list.some((origin) => !isOrigin(origin) || origin.endsWith('/'))) {
      ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of origins such as https://app.example.com' })
      return z.NEVER
    }
    return list
  })

/**
 * A WebAuthn relying-party id: a host name (no scheme, port or path), never a public suffix that
 * many owners share (a preview on workers.dev uses its full host name, not workers.dev).
 */
const SHARED_SUFFIXES = ['workers.dev', 'pages.dev']
const rpId = (fallback: string) =>
  text(fallback)
    .pipe(
      z
        .string()
        .toLowerCase()
        .regex(
          /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
          'must be a host name such as example.com',
        ),
    )
    .refine(
      (host) => host === 'localhost' || (host.includes('.') && !SHARED_SUFFIXES.includes(host)),
      'must not be a public suffix: use the full host name (my-app.example.workers.dev)',
    )

/** Whether a page at this origin may use credentials of this relying party (WebAuthn's rule). */
export const originFitsRpId = (origin: string, id: string) => {
  const { hostname, protocol } = new URL(origin)
  const secure = protocol === 'https:' || (protocol === 'http:' && hostname === 'localhost')
  return secure && (hostname === id || hostname.endsWith(`.${id}`))
}

/** An issuer: https, or http on localhost / 127.0.0.1 for local development. */
const isIssuer = (value: string) => {
  if (!URL.canParse(value)) return false
  const url = new URL(value)
  if (url.search || url.hash) return false
  return url.protocol === 'https:' || (url.protocol === 'http:' && ['localhost', '127.0.0.1'].includes(url.hostname))
}

const providerSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'id: 1-32 characters of a-z 0-9 -'),
    type: z.enum(['oidc', 'github']),
    issuer: z.string().refine(isIssuer, 'issuer: https (or http://localhost) with no query').optional(),
    client_id: z.string().min(1).max(256),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/))
      .max(20)
      .optional(),
    name: z.string().min(1).max(64).optional(),
    /** The ID token's signing algorithm the provider was registered with (oidc). */
    id_token_alg: z.enum(['RS256', 'PS256', 'ES256', 'EdDSA']).optional(),
  })
  .strict()
  .refine((provider) => provider.type !== 'oidc' || provider.issuer !== undefined, 'an oidc provider needs its issuer')

const jsonText = <S extends z.ZodType>(schema: S, fallback: unknown, what: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') return fallback as z.output<S>
      let parsed: unknown
      try {
        parsed = JSON.parse(value)
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be ${what} in JSON` })
        return z.NEVER
      }
      const result = schema.safeParse(parsed)
      if (result.success) return result.data as z.output<S>
      // The rule only: the value may hold a secret.
      ctx.addIssue({ code: 'custom', message: `must be ${what}: ${result.error.issues[0]?.message ?? 'invalid'}` })
      return z.NEVER
    })

const providersSetting = jsonText(z.array(providerSchema).max(20), [], 'an array of providers')
const clientSecretsSetting = jsonText(z.record(z.string(), z.string().min(1).max(512)), {}, 'an object of provider id to secret')

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
      if (!isOrigin(trimmed)) {
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

const choice = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
  z
    .string()
    .optional()
    .transform((value) => value?.trim().toLowerCase() || fallback)
    .pipe(z.enum(values, { message: `must be ${values.join(' or ')}` }))

/** A pepper or the secret key is keying material: as much randomness as the HMAC-SHA-256 it keys. */
const SECRET_MIN_BYTES = 32

/** base64 or base64url text to bytes; undefined for anything else. */
function decodeBase64(value: string): Uint8Array | undefined {
  const standard = value.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '')
  if (!/^[A-Za-z0-9+/]*$/.test(standard) || standard.length % 4 === 1) return undefined
  try {
    return Uint8Array.from(atob(standard.padEnd(Math.ceil(standard.length / 4) * 4, '=')), (char) => char.charCodeAt(0))
  } catch {
    return undefined
  }
}

/**
 * A secret given as base64 text, checked and used as the bytes it decodes to: at least 32 of
 * them, and not one byte repeated (an all-zero placeholder decodes to 32 bytes too).
 */
const secretBytes = (required: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value.trim() === '') {
        if (!required) return undefined
        ctx.addIssue({ code: 'custom', message: 'is required: base64 of at least 32 random bytes (openssl rand -base64 32)' })
        return z.NEVER
      }
      const bytes = decodeBase64(value.trim())
      if (!bytes || bytes.length < SECRET_MIN_BYTES || bytes.every((byte) => byte === bytes[0])) {
        ctx.addIssue({ code: 'custom', message: `must be base64 of at least ${SECRET_MIN_BYTES} random bytes (openssl rand -base64 32)` })
        return z.NEVER
      }
      return bytes
    })

const signingKeys = z
  .string()
  .optional()
  .transform(async (value, ctx) => {
    const imported = await importSigningKeys(value)
    if (imported.ok) return imported.keys
    ctx.addIssue({ code: 'custom', message: imported.message })
    return z.NEVER
  })

const setting = <const N extends string, S extends z.ZodType>(name: N, schema: S) => ({ name, schema })

/** A display name authenticator apps and passkey prompts show: 1-64 characters without ":" (an otpauth label's separator). */
const displayName = z.string().regex(/^[^:]{1,64}$/, 'must be 1-64 characters without ":"')

const SETTINGS = {
  /** The product's name as people see it: in mails, and the default TOTP issuer and passkey RP name. */
  productName: setting('PRODUCT_NAME', text('edge-users').pipe(displayName)),
  issuer: setting('JWT_ISSUER', text('edge-users')),
  audience: setting('JWT_AUDIENCE', text('edge-users-api')),
  accessTokenTtlSeconds: setting('ACCESS_TOKEN_TTL_SECONDS', integer(30, 86_400, 900)),
  refreshTokenTtlSeconds: setting('REFRESH_TOKEN_TTL_SECONDS', integer(60, 31_536_000, 2_592_000)),
  pbkdf2Iterations: setting(
    'PBKDF2_ITERATIONS',
    integer(1_000, PBKDF2_MAX_ITERATIONS, PBKDF2_MAX_ITERATIONS, " (Cloudflare's production runtime refuses more)"),
  ),
  passwordMinLength: setting('PASSWORD_MIN_LENGTH', integer(8, 64, 15)),
  rateLimitPerIpPerMinute: setting('RATE_LIMIT_PER_IP_PER_MINUTE', integer(1, 1_000_000, 30)),
  loginFreeFailures: setting('LOGIN_FREE_FAILURES', integer(1, 99, 5)),
  corsOrigins: setting('CORS_ORIGINS', origins),
  /** The client application's origin, for links in mails. */
  appUrl: setting('APP_URL', origin('http://localhost:5173')),
  mailFrom: setting('MAIL_FROM', mailbox('edge-users@example.com')),
  emailVerificationRequired: setting('EMAIL_VERIFICATION_REQUIRED', flag(false)),
  resetTokenTtlSeconds: setting('RESET_TOKEN_TTL_SECONDS', integer(60, 86_400, 1800)),
  verifyTokenTtlSeconds: setting('VERIFY_TOKEN_TTL_SECONDS', integer(300, 604_800, 86_400)),
  mailPerAddressPerHour: setting('MAIL_PER_ADDRESS_PER_HOUR', integer(1, 100, 3)),
  refreshReuseGraceSeconds: setting('REFRESH_REUSE_GRACE_SECONDS', integer(0, 60, 10)),
  auditRetentionDays: setting('AUDIT_RETENTION_DAYS', integer(1, 3650, 365)),
  /** How recent a session's last proof must be for a sensitive action (an email change, say). */
  reauthMaxAgeSeconds: setting('REAUTH_MAX_AGE_SECONDS', integer(1, 86_400, 300)),
  emailRevertTtlSeconds: setting('EMAIL_REVERT_TTL_SECONDS', integer(60, 2_592_000, 604_800)),
  profileChangesPerHour: setting('PROFILE_CHANGES_PER_HOUR', integer(1, 1000, 10)),
  /** An imported bcrypt hash above this cost is an unusable record: its owner resets the password. */
  bcryptMaxCost: setting('BCRYPT_MAX_COST', integer(4, 15, 12)),
  webauthnRpId: setting('WEBAUTHN_RP_ID', rpId('localhost')),
  /** Empty means PRODUCT_NAME (resolved in withDerivedKeys). */
  webauthnRpName: setting('WEBAUTHN_RP_NAME', text('').pipe(z.union([z.literal(''), displayName]))),
  /** Empty means APP_URL (resolved in withDerivedKeys). */
  webauthnOrigins: setting('WEBAUTHN_ORIGINS', origins),
  oauthProviders: setting('OAUTH_PROVIDERS', providersSetting),
  oauthClientSecrets: setting('OAUTH_CLIENT_SECRETS', clientSecretsSetting),
  /** The issuer name authenticator apps show beside a TOTP factor; empty means PRODUCT_NAME. */
  totpIssuer: setting('TOTP_ISSUER', text('').pipe(z.union([z.literal(''), displayName]))),
  /** One log line per request; errors and security events are logged regardless. */
  logRequests: setting('LOG_REQUESTS', flag(false)),
  /**
   * Where an authenticated read (the session and its user) may come from: `strict`, the D1 primary
   * only, so a logout, a revocation or a disabled account counts on the very next request; or
   * `replica`, any read replica, which may lag the primary (see SECURITY.md).
   */
  authReadMode: setting('AUTH_READ_MODE', choice(['strict', 'replica'], 'strict')),
  /** An `X-D1-Usage` header on every response: the request's D1 queries, rows read and written. */
  reportD1Usage: setting('REPORT_D1_USAGE', flag(false)),
  /** The label stored with each peppered hash, so a hash made under another pepper is recognised as such. */
  pepperId: setting(
    'PASSWORD_PEPPER_ID',
    text('1').pipe(z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1-32 characters of A-Z a-z 0-9 _ -')),
  ),
  /** The pepper, when one is configured: a secret applied to every password before PBKDF2. */
  pepperSecret: setting('PASSWORD_PEPPER', secretBytes(false)),
  /**
   * The worker's own secret, apart from the signing keys so that rotating those changes nothing
   * else: it keys the limiter's names, the refresh-token chain and the encryption of TOTP secrets.
   */
  secretKey: setting('SECRET_KEY', secretBytes(true).pipe(z.instanceof(Uint8Array))),
  /** The SECRET_KEY before a rotation, while what it sealed (TOTP secrets) is still being read. */
  previousSecretKey: setting('SECRET_KEY_PREVIOUS', secretBytes(false)),
  keys: setting('JWT_PRIVATE_KEYS', signingKeys),
} as const

type Settings = { [K in keyof typeof SETTINGS]: z.output<(typeof SETTINGS)[K]['schema']> }

/** The parsed settings, and the keys made from them. */
export type Config = Awaited<ReturnType<typeof withDerivedKeys>>

async function withDerivedKeys(settings: Settings) {
  const { pepperSecret, pepperId, secretKey, previousSecretKey, webauthnOrigins, oauthProviders, oauthClientSecrets, ...rest } = settings
  return {
    ...rest,
    /** The configured providers, each with its secret (OAUTH_CLIENT_SECRETS) and display name. */
    providers: oauthProviders.map(
      (provider): ProviderSettings => ({
        ...provider,
        name: provider.name ?? provider.id,
        scopes: provider.scopes ?? (provider.type === 'github' ? ['read:user', 'user:email'] : ['openid', 'email', 'profile']),
        clientSecret: oauthClientSecrets[provider.id] ?? '',
      }),
    ),
    totpIssuer: rest.totpIssuer || rest.productName,
    webauthnRpName: rest.webauthnRpName || rest.productName,
    /** Where a passkey ceremony may run: WEBAUTHN_ORIGINS, or the client application's origin. */
    webauthnOrigins: webauthnOrigins.length > 0 ? webauthnOrigins : [rest.appUrl],
    pepper: pepperSecret ? ({ id: pepperId, key: await importHmacKey(pepperSecret) } satisfies Pepper) : undefined,
    /** Keys the limiter's names for addresses and accounts, so its storage holds nothing reversible. */
    throttleKey: await deriveHmacKey(secretKey, 'edge-users throttle keys'),
    /** Derives a rotated refresh token from the one presented, so a retried refresh gets the same one back. */
    refreshKey: await deriveHmacKey(secretKey, 'edge-users refresh tokens'),
    /** Seal TOTP secrets at rest (auth/secret-box.ts): the current key first, then the previous one. */
    sealingKeys: await Promise.all(
      [secretKey, ...(previousSecretKey ? [previousSecretKey] : [])].map((secret) => sealingKey(secret, 'edge-users totp secrets')),
    ),
  }
}

export type ConfigProblem = { name: string; message: string }
export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] }

/** What the configuration is read from: the worker's bindings (vars and secrets). */
export type ConfigSource = object

/** The configuration, parsed (and its keys imported) once per bindings object, so once per isolate. */
export const readConfig: (bindings: ConfigSource) => Promise<ConfigResult> = memoize(parseConfig)

async function parseConfig(bindings: ConfigSource): Promise<ConfigResult> {
  const source = bindings as Record<string, unknown>
  const problems: ConfigProblem[] = []
  const parsed: Record<string, unknown> = {}
  for (const [key, { name, schema }] of Object.entries(SETTINGS)) {
    const result = await schema.safeParseAsync(source[name])
    // Only the name and the rule: a value may be a secret.
    if (result.success) parsed[key] = result.data
    else problems.push({ name, message: result.error.issues[0]?.message ?? 'is invalid' })
  }
  if (problems.length === 0) {
    const settings = parsed as Settings
    const ids = settings.oauthProviders.map((provider) => provider.id)
    if (new Set(ids).size !== ids.length) problems.push({ name: 'OAUTH_PROVIDERS', message: 'two providers have one id' })
    const missing = ids.filter((id) => !settings.oauthClientSecrets[id])
    if (missing.length > 0) problems.push({ name: 'OAUTH_CLIENT_SECRETS', message: `has no secret for ${missing.join(', ')}` })
    const ceremonyOrigins = settings.webauthnOrigins.length > 0 ? settings.webauthnOrigins : [settings.appUrl]
    const misfit = ceremonyOrigins.find((candidate) => !originFitsRpId(candidate, settings.webauthnRpId))
    // Named as what to fix: the origins when they were set, else the RP ID APP_URL must fit.
    if (misfit !== undefined)
      problems.push(
        settings.webauthnOrigins.length > 0
          ? { name: 'WEBAUTHN_ORIGINS', message: 'every origin must be https (or http://localhost) on WEBAUTHN_RP_ID or a subdomain of it' }
          : { name: 'WEBAUTHN_RP_ID', message: "must be APP_URL's host or a parent domain of it (or set WEBAUTHN_ORIGINS)" },
      )
  }
  if (problems.length > 0) return { ok: false, problems }
  return { ok: true, config: await withDerivedKeys(parsed as Settings) }
}
