import { z } from 'zod'
import { uuidv7 } from '../lib/ids'
import { log } from '../log'

/** The dead-letter queue's name, as wrangler.toml declares it. */
export const DEAD_MAIL_QUEUE = 'edge-users-mail-dead'

/**
 * What the request path puts on the mail queue. A job names what to send, never a token: the
 * consumer looks the account up and makes the token, so the request does the same work whether
 * or not an account exists, and a token never sits in a queue.
 */
export const mailJobSchema = z.discriminatedUnion('kind', [
  z.object({ id: z.string(), kind: z.literal('password_reset'), email: z.string() }),
  z.object({ id: z.string(), kind: z.literal('email_verification'), userId: z.string(), email: z.string() }),
  /** To a pending new address: the link that confirms it. */
  z.object({ id: z.string(), kind: z.literal('email_change'), userId: z.string(), newEmail: z.string() }),
  /** To the old address once a change is confirmed: the notice, with the link that undoes it. */
  z.object({ id: z.string(), kind: z.literal('email_changed'), userId: z.string(), oldEmail: z.string(), newEmail: z.string() }),
  /** To an invited address: the link that accepts the invitation (its token made by the consumer, like every mailed token). */
  z.object({ id: z.string(), kind: z.literal('org_invitation'), invitationId: z.string() }),
])
export type MailJob = z.infer<typeof mailJobSchema>

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never

/**
 * Mails that follow a write the request already made (a signup, an address change): a queue
 * failure is logged rather than failing a request whose change stands; the user can ask again.
 */
export async function enqueueAfterWrite(queue: Queue, jobs: WithoutId<MailJob>[], requestId: string): Promise<void> {
  try {
    await enqueueMail(queue, jobs)
  } catch (error) {
    log('error', 'mail.enqueue_failed', {
      request_id: requestId,
      kinds: jobs.map((job) => job.kind).join(','),
      error: (error as Error).name,
    })
  }
}

/** A verification mail for the account's current address. */
export const verificationJob = (user: { id: string; email: string }) =>
  ({ kind: 'email_verification', userId: user.id, email: user.email }) as const

/** Queues mail jobs; each gets an id that makes a second delivery of it a no-op. */
export async function enqueueMail(queue: Queue, jobs: WithoutId<MailJob>[]): Promise<void> {
  const messages = jobs.map((job) => ({ body: { ...job, id: uuidv7() } as MailJob, contentType: 'json' as const }))
  if (messages.length === 1) await queue.send(messages[0]!.body, { contentType: 'json' })
  else if (messages.length > 1) await queue.sendBatch(messages)
}
