import type { Bindings } from '../app-env'
import { hashOpaqueToken, newOpaqueToken } from '../auth/opaque-tokens'
import { type Config, readConfig } from '../config'
import { type Database, databaseFor } from '../db/client'
import {
  addressKey,
  claimJob,
  finishJob,
  hasLiveRevertLink,
  issueMailToken,
  mailsSentWithinHour,
  markJobDead,
  releaseJob,
  resetBinding,
} from '../db/mail'
import { armInvitation } from '../db/orgs'
import type { MailTokenPurpose } from '../db/schema'
import { findUserById, findUserByLogin } from '../db/users'
import { log } from '../log'
import { type MailJob, mailJobSchema } from './jobs'
import { emailServiceMailer, type Mail, type Mailer } from './mailer'
import { emailChangedMail, emailChangeMail, invitationMail, passwordResetMail, verificationMail } from './templates'

/** How long one delivery holds its job before another delivery of it may take over. */
const CLAIM_MS = 60_000
const MAX_RETRY_DELAY_SECONDS = 3600

/** 30 s, 60 s, 120 s, … up to an hour: a provider's hiccup passes, a long outage is not hammered. */
export const retryDelaySeconds = (attempts: number) => Math.min(30 * 2 ** Math.max(0, attempts - 1), MAX_RETRY_DELAY_SECONDS)

type Outcome = { status: 'sent' | 'skipped'; reason?: string }

/**
 * The mail queue's consumer. Each message is settled on its own (ack or retry), so one that keeps
 * failing, or cannot be read at all, never holds back the others; after the queue's max_retries
 * the platform moves it to the dead-letter queue.
 */
export async function consumeMail(batch: MessageBatch<unknown>, env: Bindings, mailer?: Mailer): Promise<void> {
  const result = await readConfig(env)
  if (!result.ok) {
    log('error', 'mail.config_invalid', { variables: result.problems.map((p) => p.name) })
    batch.retryAll({ delaySeconds: retryDelaySeconds(1) })
    return
  }
  const config = result.config
  const db = databaseFor(env.DB)
  const out = mailer ?? emailServiceMailer(env.EMAIL, config.mailFrom)
  for (const message of batch.messages) {
    const parsed = mailJobSchema.safeParse(message.body)
    if (!parsed.success) {
      // No code can send it; retried to the dead-letter queue, where an operator can read it.
      log('error', 'mail.unreadable_job', { message_id: message.id })
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) })
      continue
    }
    const job = parsed.data
    try {
      const now = new Date()
      const claim = await claimJob(db, { id: job.id, kind: job.kind, now, holdMs: CLAIM_MS })
      if (claim === 'done') {
        message.ack() // a duplicate delivery of a job that already ended
        continue
      }
      if (claim === 'busy') {
        message.retry({ delaySeconds: Math.ceil(CLAIM_MS / 1000) })
        continue
      }
      const outcome = await runJob(db, config, out, job, now)
      log('info', `mail.${outcome.status}`, { job_id: job.id, kind: job.kind, ...(outcome.reason ? { reason: outcome.reason } : {}) })
      message.ack()
    } catch (error) {
      // The error's name only: a provider's message may quote the address.
      log('warn', 'mail.retry', { job_id: job.id, kind: job.kind, attempts: message.attempts, error: (error as Error).name })
      await releaseJob(db, job.id).catch(() => undefined)
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) })
    }
  }
}

/** Jobs that used up their retries: recorded, and an error logged for an operator. */
export async function consumeDeadMail(batch: MessageBatch<unknown>, env: Bindings): Promise<void> {
  const db = databaseFor(env.DB)
  for (const message of batch.messages) {
    const job = mailJobSchema.safeParse(message.body)
    log('error', 'mail.dead_lettered', { message_id: message.id, ...(job.success ? { job_id: job.data.id, kind: job.data.kind } : {}) })
    if (job.success) await markJobDead(db, { id: job.data.id, kind: job.data.kind, now: new Date() })
    message.ack()
  }
}

async function runJob(db: Database, config: Config, mailer: Mailer, job: MailJob, now: Date): Promise<Outcome> {
  switch (job.kind) {
    case 'password_reset': {
      const user = await findUserByLogin(db, { kind: 'email', value: job.email })
      if (!user || user.disabled) return finish(db, job, now, { status: 'skipped', reason: user ? 'disabled' : 'no_account' })
      return sendWithToken(db, config, mailer, job, now, {
        userId: user.id,
        to: user.email,
        purpose: 'password_reset',
        boundTo: await resetBinding(user),
        ttlSeconds: config.resetTokenTtlSeconds,
        render: (link) => passwordResetMail({ product: config.productName, to: user.email, link, ttlSeconds: config.resetTokenTtlSeconds }),
        path: 'reset-password',
      })
    }
    case 'email_verification': {
      const user = await findUserById(db, job.userId)
      // Bound to the address it was asked for: a changed address, or one already verified, gets nothing.
      if (!user || user.email !== job.email || user.emailVerified) return finish(db, job, now, { status: 'skipped', reason: 'not_needed' })
      return sendWithToken(db, config, mailer, job, now, {
        userId: user.id,
        to: user.email,
        purpose: 'email_verification',
        boundTo: user.email,
        ttlSeconds: config.verifyTokenTtlSeconds,
        render: (link) => verificationMail({ product: config.productName, to: user.email, link, ttlSeconds: config.verifyTokenTtlSeconds }),
        path: 'verify-email',
      })
    }
    case 'email_change': {
      const user = await findUserById(db, job.userId)
      // Only for the address still pending: a newer change, or a confirmed one, gets nothing.
      if (!user || user.pendingEmail !== job.newEmail) return finish(db, job, now, { status: 'skipped', reason: 'not_pending' })
      return sendWithToken(db, config, mailer, job, now, {
        userId: user.id,
        to: job.newEmail,
        purpose: 'email_change',
        boundTo: job.newEmail,
        ttlSeconds: config.verifyTokenTtlSeconds,
        render: (link) =>
          emailChangeMail({ product: config.productName, to: job.newEmail, link, ttlSeconds: config.verifyTokenTtlSeconds }),
        path: 'verify-email',
      })
    }
    case 'email_changed': {
      // A security notice is never silenced by the address's cap. Past the cap, a notice whose
      // old address already holds an unused revert link from the last hour is coalesced into it:
      // that link undoes this change too (it undoes every later one).
      const key = await addressKey(job.oldEmail)
      const capped = (await mailsSentWithinHour(db, key, now)) >= config.mailPerAddressPerHour
      const since = new Date(now.getTime() - 3_600_000)
      if (capped && (await hasLiveRevertLink(db, { userId: job.userId, address: job.oldEmail, since, now }))) {
        return finish(db, job, now, { status: 'skipped', reason: 'coalesced' })
      }
      return sendWithToken(db, config, mailer, job, now, {
        userId: job.userId,
        to: job.oldEmail,
        purpose: 'email_revert',
        boundTo: job.oldEmail,
        ttlSeconds: config.emailRevertTtlSeconds,
        render: (link) =>
          emailChangedMail({
            product: config.productName,
            to: job.oldEmail,
            newEmail: job.newEmail,
            link,
            ttlSeconds: config.emailRevertTtlSeconds,
          }),
        path: 'revert-email',
        uncapped: true,
      })
    }
    case 'org_invitation': {
      return sendInvitation(db, config, mailer, job, now)
    }
  }
}

type TokenMail = {
  userId: string
  to: string
  purpose: MailTokenPurpose
  boundTo: string
  ttlSeconds: number
  render: (link: string) => Mail
  path: string
  /** A security notice, sent past the address's hourly cap (the caller coalesces repeats). */
  uncapped?: boolean
}

/** Mails with a link: within the address's hourly cap, a new token, then the mail. */
/**
 * An invitation's mail: a fresh token replaces the placeholder the request stored (so a token is
 * only ever made here, as for every mailed link), while the invitation is still open.
 */
async function sendInvitation(db: Database, config: Config, mailer: Mailer, job: Extract<MailJob, { kind: 'org_invitation' }>, now: Date) {
  const token = newOpaqueToken()
  const invitation = await armInvitation(db, { id: job.invitationId, tokenHash: await hashOpaqueToken(token), now })
  if (!invitation) return finish(db, job, now, { status: 'skipped', reason: 'not_open' })
  const key = await addressKey(invitation.email)
  if ((await mailsSentWithinHour(db, key, now)) >= config.mailPerAddressPerHour)
    return finish(db, job, now, { status: 'skipped', reason: 'address_cap' })
  const ttlSeconds = Math.max(0, Math.floor((invitation.expiresAt.getTime() - now.getTime()) / 1000))
  const link = `${config.appUrl}/accept-invitation#token=${token}`
  await mailer.send(
    invitationMail({
      product: config.productName,
      to: invitation.email,
      link,
      ttlSeconds,
      organization: invitation.orgName,
      roles: invitation.roles,
    }),
  )
  await finishJob(db, { id: job.id, status: 'sent', addressKey: key, now })
  return { status: 'sent' as const }
}

async function sendWithToken(db: Database, config: Config, mailer: Mailer, job: MailJob, now: Date, mail: TokenMail): Promise<Outcome> {
  const key = await addressKey(mail.to)
  if (!mail.uncapped && (await mailsSentWithinHour(db, key, now)) >= config.mailPerAddressPerHour) {
    return finish(db, job, now, { status: 'skipped', reason: 'address_cap' })
  }
  const token = newOpaqueToken()
  await issueMailToken(db, {
    userId: mail.userId,
    purpose: mail.purpose,
    tokenHash: await hashOpaqueToken(token),
    boundTo: mail.boundTo,
    ttlSeconds: mail.ttlSeconds,
    now,
  })
  // In the fragment: browsers send neither it to the server nor in a Referer.
  await mailer.send(mail.render(`${config.appUrl}/${mail.path}#token=${token}`))
  await finishJob(db, { id: job.id, status: 'sent', addressKey: key, now })
  return { status: 'sent' }
}

async function finish(db: Database, job: MailJob, now: Date, outcome: Outcome): Promise<Outcome> {
  await finishJob(db, { id: job.id, status: outcome.status, now })
  return outcome
}
