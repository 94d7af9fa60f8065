import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import type { UserRow } from '../db/schema'
import { rateLimited } from '../errors'
import { admitProofAttempt, type LoginSubject } from '../rate-limit/client'

/** An admitted attempt: its place among the account's attempts, and the failures before it. */
export type Attempt = { at: Date; failuresSoFar: number }

/**
 * Admits an attempt to prove who one is, against the client network's budget and the subject's
 * failure streak, or throws 429 before any proof is checked. Its time is never before its place
 * among the subject's attempts (see the limiter's Streak), so a success recorded at that time
 * ends the streak it belongs to.
 */
export async function admitAttempt(c: Context<AppEnv>, subject: LoginSubject, user: UserRow | undefined): Promise<Attempt> {
  const admission = await admitProofAttempt(c, subject, user?.lastAuthAt)
  if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)
  return { at: new Date(Math.max(Date.now(), admission.at)), failuresSoFar: admission.failuresSoFar }
}
