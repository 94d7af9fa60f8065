import { Secret, TOTP } from 'otpauth'
import encodeQR from 'qr'
import { randomBytes } from '../lib/encoding'

/*
 * TOTP as RFC 6238 and every authenticator app read it: HMAC-SHA-1, 6 digits, 30-second steps,
 * a 160-bit secret in base32, a code accepted one step either side of now. The code computation
 * is otpauth's (tested against the RFC's vectors); which step matched is what makes a code
 * single-use, and that rule is the database's (db/factors.ts spendTotpStep).
 */

export const TOTP_PERIOD_SECONDS = 30
export const TOTP_DIGITS = 6
const SECRET_BYTES = 20
const WINDOW = 1

/** A new shared secret: 160 bits from the CSPRNG. */
export const newTotpSecret = (): Uint8Array => randomBytes(SECRET_BYTES)

export const base32Of = (secret: Uint8Array) => new Secret({ buffer: secret.slice().buffer }).base32

/** The time step a moment falls in. */
export const stepAt = (ms: number) => Math.floor(ms / 1000 / TOTP_PERIOD_SECONDS)

/** The code of one time step (for the RFC's test vectors and the benchmark's authenticator). */
export function totpCode(secret: Uint8Array, step: number): string {
  return TOTP.generate({
    secret: new Secret({ buffer: secret.slice().buffer }),
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    timestamp: step * TOTP_PERIOD_SECONDS * 1000,
  })
}

/** The time step a code matches, one step either side of `nowMs`, or undefined. */
export function matchTotp(secret: Uint8Array, code: string, nowMs: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined
  const delta = TOTP.validate({
    token: code,
    secret: new Secret({ buffer: secret.slice().buffer }),
    algorithm: 'SHA1',
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
    timestamp: nowMs,
    window: WINDOW,
  })
  return delta === null ? undefined : stepAt(nowMs) + delta
}

/**
 * The key URI authenticator apps read (the de facto format Google Authenticator defined): the
 * label is issuer:account, and the issuer is repeated as a parameter for apps that read only that.
 */
export function otpauthUri(issuer: string, account: string, secret: Uint8Array): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`
  const query = `secret=${base32Of(secret)}&issuer=${encodeURIComponent(issuer)}&algorithm=SHA1&digits=${TOTP_DIGITS}&period=${TOTP_PERIOD_SECONDS}`
  return `otpauth://totp/${label}?${query}`
}

/** The URI as an SVG QR code (paulmillr's `qr`: pure JS, no canvas), medium error correction. */
export const qrSvg = (uri: string): string => encodeQR(uri, 'svg', { ecc: 'medium', border: 2 })
