import { type AuditEvent, recordEvent } from '../db/audit'
import type { UserRow } from '../db/schema'
import { type ApiError, rateLimited } from '../errors'
import type { LoginSubject } from '../rate-limit/client'
import type { SignInContext } from './context'

/** Spends from the client network's budget, or throws 429 when it is spent. */
export async function admitFromNetwork(ctx: SignInContext): Promise<void> {
  const admission = await ctx.limiter.admitRequest()
  if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)
}

/**
 * A refusal that no account's streak can count (an unknown credential, a bad challenge or code):
 * it spends from the client network's budget instead, so probing is throttled, and is audited
 * when `event` is given. 429 once the budget is spent, else `error`.
 */
export async function refuseOnNetworkBudget(ctx: SignInContext, error: ApiError | Error, event?: AuditEvent): Promise<never> {
  const admission = await ctx.limiter.admitRequest()
  if (event) await recordEvent(ctx.db, event, ctx.caller, ctx.now)
  if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)
  throw error
}

/** An admitted attempt: its place among the account's attempts, and the failures before it. */
export type Attempt = { at: Date; failuresSoFar: number }

/**
 * Admits an attempt to prove who one is, against the client network's budget and the subject's
 * failure streak, or throws 429 before any proof is checked. Its time is never before its place
 * among the subject's attempts (see the limiter's Streak), so a success recorded at that time
 * ends the streak it belongs to.
 */
export async function admitAttempt(ctx: SignInContext, subject: LoginSubject, user: UserRow | undefined): Promise<Attempt> {
  const admission = await ctx.limiter.admitProofAttempt(subject, user?.lastAuthAt)
  if (!admission.allowed) throw rateLimited(admission.retryAfterSeconds)
  return { at: new Date(Math.max(Date.now(), admission.at)), failuresSoFar: admission.failuresSoFar }
}
