import { z } from 'zod'
import { PBKDF2_MAX_ITERATIONS } from '../auth/password'
import {
  choice,
  clientSecretsSetting,
  flag,
  integer,
  mailbox,
  optionalOrigin,
  origin,
  origins,
  providersSetting,
  resourcesSetting,
  rpId,
  secretBytes,
  signingKeys,
  text,
} from './parsers'

/*
 * Every setting is one entry of SETTINGS: the variable's name in wrangler.toml (or a secret's
 * name), and the schema that checks it and turns it into what the code uses. `Config` is inferred
 * from those entries, so adding a variable is wrangler.toml plus one line here.
 */

const setting = <const N extends string, S extends z.ZodType>(name: N, schema: S) => ({ name, schema })

/** A display name authenticator apps and passkey prompts show: 1-64 characters without ":" (an otpauth label's separator). */
const displayName = z.string().regex(/^[^:]{1,64}$/, 'must be 1-64 characters without ":"')

export const SETTINGS = {
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
  /** This worker's own public origin: the hosted pages' and, as an OpenID Provider, the issuer. */
  publicUrl: setting('PUBLIC_URL', origin('http://localhost:8787')),
  /** The client application's origin, for links in mails; empty means PUBLIC_URL (the hosted pages). */
  appUrl: setting('APP_URL', optionalOrigin),
  /** How long a hosted pages' browser session lasts, from its sign-in (absolute). */
  browserSessionTtlSeconds: setting('BROWSER_SESSION_TTL_SECONDS', integer(300, 31_536_000, 1_209_600)),
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
  /** How long an organization's invitation can be accepted. */
  invitationTtlSeconds: setting('INVITATION_TTL_SECONDS', integer(300, 2_592_000, 604_800)),
  profileChangesPerHour: setting('PROFILE_CHANGES_PER_HOUR', integer(1, 1000, 10)),
  /** An imported bcrypt hash above this cost is an unusable record: its owner resets the password. */
  bcryptMaxCost: setting('BCRYPT_MAX_COST', integer(4, 15, 12)),
  webauthnRpId: setting('WEBAUTHN_RP_ID', rpId('localhost')),
  /** Empty means PRODUCT_NAME (resolved in withDerivedKeys). */
  webauthnRpName: setting('WEBAUTHN_RP_NAME', text('').pipe(z.union([z.literal(''), displayName]))),
  /** Empty means APP_URL (resolved in withDerivedKeys). */
  webauthnOrigins: setting('WEBAUTHN_ORIGINS', origins),
  /** RFC 7591: anybody may register a client of the OpenID Provider at /oauth2/register (budgeted per network). */
  oauthDynamicRegistration: setting('OAUTH_DYNAMIC_REGISTRATION', flag(false)),
  /** The resources (RFC 8707) a client may ask the OpenID Provider's tokens for, besides PUBLIC_URL itself. */
  oauthResources: setting('OAUTH_RESOURCES', resourcesSetting),
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

export type Settings = { [K in keyof typeof SETTINGS]: z.output<(typeof SETTINGS)[K]['schema']> }
