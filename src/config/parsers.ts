import { z } from 'zod'
import { importSigningKeys } from '../auth/keys'

/*
 * The parsers settings are made of: each turns a variable's text into what the code uses, or says,
 * in words an operator can act on, what is wrong with it (never echoing the value: it may be a
 * secret).
 */

export const integer = (min: number, max: number, fallback: number, why = '') =>
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

export const text = (fallback: string) =>
  z
    .string()
    .max(256)
    .optional()
    .transform((value) => (value === undefined || value.trim() === '' ? fallback : value.trim()))

export const isOrigin = (value: string) => URL.canParse(value) && new URL(value).origin === value.replace(/\/$/, '')

export const origins = z
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
export const rpId = (fallback: string) =>
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
export const isIssuer = (value: string) => {
  if (!URL.canParse(value)) return false
  const url = new URL(value)
  if (url.search || url.hash) return false
  return url.protocol === 'https:' || (url.protocol === 'http:' && ['localhost', '127.0.0.1'].includes(url.hostname))
}

export const providerSchema = z
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

export const jsonText = <S extends z.ZodType>(schema: S, fallback: unknown, what: string) =>
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

export const providersSetting = jsonText(z.array(providerSchema).max(20), [], 'an array of providers')
export const clientSecretsSetting = jsonText(z.record(z.string(), z.string().min(1).max(512)), {}, 'an object of provider id to secret')

/** RFC 8707 resource indicators: absolute URIs without a fragment, as clients will send them. */
const resourceUri = z
  .string()
  .max(2048)
  .refine(
    (value) => URL.canParse(value) && !value.includes('#') && /^https?:$/.test(new URL(value).protocol),
    'must be an absolute http(s) URI without a fragment',
  )
export const resourcesSetting = jsonText(z.array(resourceUri).max(50), [], 'an array of resource URIs')

export const flag = (fallback: boolean) =>
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

export const origin = (fallback: string) =>
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

/** An origin, or empty (a setting whose default is another setting, resolved in withDerivedKeys). */
export const optionalOrigin = z
  .string()
  .optional()
  .transform((value, ctx) => {
    const trimmed = value?.trim() ?? ''
    if (trimmed === '') return ''
    if (!isOrigin(trimmed)) {
      ctx.addIssue({ code: 'custom', message: 'must be an origin such as https://app.example.com, or empty' })
      return z.NEVER
    }
    return new URL(trimmed).origin
  })

export const mailbox = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((value) => value?.trim() || fallback)
    .pipe(z.email('must be an email address'))

export const choice = <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
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
export const secretBytes = (required: boolean) =>
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

export const signingKeys = z
  .string()
  .optional()
  .transform(async (value, ctx) => {
    const imported = await importSigningKeys(value)
    if (imported.ok) return imported.keys
    ctx.addIssue({ code: 'custom', message: imported.message })
    return z.NEVER
  })
