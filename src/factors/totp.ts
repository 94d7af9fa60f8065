import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { withEnrolledFactor } from '../auth/assurance'
import { seal } from '../auth/secret-box'
import { base32Of, newTotpSecret, otpauthUri, qrSvg } from '../auth/totp'
import { recordEvent } from '../db/audit'
import { confirmTotpFactor, replaceRecoveryCodes, startTotpEnrolment } from '../db/factors'
import { problem } from '../errors'
import { accountSubject } from '../rate-limit/client'
import { admitAttempt } from '../sign-in/admit'
import { checkPendingTotp } from '../sign-in/proofs'
import { newRecoveryCodeSet } from './recovery-codes'

/**
 * Starts an enrolment: a pending factor with a new 160-bit secret, sealed at rest. The secret is
 * shown this once, as text, as the otpauth URI authenticator apps read, and as that URI's QR code.
 */
export async function startTotp(c: Context<AppEnv>) {
  const { db, config, user } = c.var
  const secret = newTotpSecret()
  const started = await startTotpEnrolment(db, {
    userId: user.id,
    sealedSecret: await seal(config.sealingKeys, secret, user.id),
    now: new Date(),
  })
  if (!started) throw problem('mfa_already_enabled')
  const uri = otpauthUri(config.totpIssuer, user.username, secret)
  return { secret: base32Of(secret), otpauth_uri: uri, qr_svg: qrSvg(uri) }
}

/**
 * Confirms the pending factor with its first code (throttled and audited like any proof): the
 * factor is active, ten recovery codes replace any earlier set, this session is `aal2` now (its
 * `auth_time` as it was) and every other session ends. Returns the codes, shown this once.
 */
export async function confirmTotp(c: Context<AppEnv>, code: string): Promise<string[]> {
  const { db, config, user, session, client } = c.var
  const attempt = await admitAttempt(c.var.signIn, accountSubject(user.id), user)
  const pending = await checkPendingTotp({ db, config, now: attempt.at, client }, user, code)
  if (!pending) {
    const details = { purpose: 'enrolment', method: 'totp' }
    await recordEvent(db, { action: 'user.mfa_failed', actorId: user.id, targetId: user.id, details }, client, attempt.at)
    throw problem('invalid_mfa_code')
  }
  const recovery = await newRecoveryCodeSet()
  const confirmed = await confirmTotpFactor(db, {
    userId: user.id,
    startedAt: pending.startedAt,
    step: pending.step,
    codeHashes: recovery.hashes,
    keepSessionId: session.id,
    assurance: withEnrolledFactor(session, 'totp'),
    client,
    now: attempt.at,
  })
  // Replaced by a newer enrolment, expired, or confirmed by a simultaneous request.
  if (!confirmed) throw problem('invalid_mfa_code')
  return recovery.codes
}

/** A new set of recovery codes for an account with an active factor; the old set is dead. */
export async function regenerateRecoveryCodes(c: Context<AppEnv>): Promise<string[]> {
  const { db, user, client } = c.var
  const recovery = await newRecoveryCodeSet()
  await replaceRecoveryCodes(db, { userId: user.id, codeHashes: recovery.hashes, client, now: new Date() })
  return recovery.codes
}
