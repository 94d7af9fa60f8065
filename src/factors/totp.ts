import { withEnrolledFactor } from '../auth/assurance'
import { seal } from '../auth/secret-box'
import { base32Of, newTotpSecret, otpauthUri, qrSvg } from '../auth/totp'
import { recordEvent } from '../db/audit'
import { confirmTotpFactor, replaceRecoveryCodes, startTotpEnrolment } from '../db/factors'
import { problem } from '../errors'
import { accountSubject } from '../rate-limit/client'
import { admitAttempt } from '../sign-in/admit'
import type { SignedIn, SignInContext } from '../sign-in/context'
import { checkPendingTotp } from '../sign-in/proofs'
import { newRecoveryCodeSet } from './recovery-codes'

/**
 * Starts an enrolment: a pending factor with a new 160-bit secret, sealed at rest. The secret is
 * shown this once, as text, as the otpauth URI authenticator apps read, and as that URI's QR code.
 */
export async function startTotp(ctx: SignInContext, account: SignedIn) {
  const { db, config } = ctx
  const { user } = account
  const secret = newTotpSecret()
  const started = await startTotpEnrolment(db, {
    userId: user.id,
    sealedSecret: await seal(config.sealingKeys, secret, user.id),
    now: ctx.now,
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
export async function confirmTotp(ctx: SignInContext, account: SignedIn, code: string): Promise<string[]> {
  const { db, config, caller: client } = ctx
  const { user, session } = account
  const attempt = await admitAttempt(ctx, accountSubject(user.id), user)
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
export async function regenerateRecoveryCodes(ctx: SignInContext, account: SignedIn): Promise<string[]> {
  const { db, caller: client } = ctx
  const { user } = account
  const recovery = await newRecoveryCodeSet()
  await replaceRecoveryCodes(db, { userId: user.id, codeHashes: recovery.hashes, client, now: ctx.now })
  return recovery.codes
}
