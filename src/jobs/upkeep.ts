import { sql } from 'drizzle-orm'
import type { Bindings } from '../app-env'
import { readConfig } from '../config'
import { type Database, databaseFor } from '../db/client'
import { log } from '../log'
import { allLimiters } from '../rate-limit/client'

/** Rows one statement deletes, and statements per kind of row in one run: a run stays well inside a Worker's limits. */
export const UPKEEP_BATCH = 500
export const UPKEEP_ROUNDS = 20

/** How long a finished mail job is kept: past any redelivery of its message (Queues keep a message at most 14 days). */
const MAIL_JOB_DAYS = 15
const DAY_MS = 86_400_000

export type UpkeepReport = Record<
  'sessions' | 'audit_events' | 'mail_tokens' | 'mail_jobs' | 'passkey_challenges' | 'oauth_flows' | 'oauth_grants' | 'limiter_streaks',
  number
> & {
  /** True when a kind had more to delete than one run takes: the next run goes on. */
  more: boolean
}

/**
 * The daily clean-up (a Cron Trigger): expired sessions,
 * audit events older than AUDIT_RETENTION_DAYS, mail tokens that expired or were used, old mail
 * jobs, and the limiter's stale failure streaks. Each kind is deleted in bounded batches, and every
 * statement only deletes what is already past its use, so running it again changes nothing.
 */
export async function runUpkeep(
  env: Bindings,
  now: Date,
  bounds: { batch: number; rounds: number } = { batch: UPKEEP_BATCH, rounds: UPKEEP_ROUNDS },
): Promise<UpkeepReport> {
  const result = await readConfig(env)
  if (!result.ok) {
    log('error', 'upkeep.config_invalid', { variables: result.problems.map((p) => p.name) })
    throw new Error('the configuration is not valid')
  }
  const db = databaseFor(env.DB)
  const at = now.getTime()
  const auditCutoff = at - result.config.auditRetentionDays * DAY_MS
  const report: UpkeepReport = {
    sessions: 0,
    audit_events: 0,
    mail_tokens: 0,
    mail_jobs: 0,
    passkey_challenges: 0,
    oauth_flows: 0,
    oauth_grants: 0,
    limiter_streaks: 0,
    more: false,
  }
  const sweep = async (kind: keyof Omit<UpkeepReport, 'more' | 'limiter_streaks'>, table: string, where: ReturnType<typeof sql>) => {
    const { deleted, more } = await deleteInBatches(db, table, where, bounds)
    report[kind] = deleted
    report.more ||= more
  }
  await sweep('sessions', 'sessions', sql`expires_at <= ${at}`)
  await sweep('audit_events', 'audit_events', sql`at < ${auditCutoff}`)
  await sweep('mail_tokens', 'mail_tokens', sql`expires_at <= ${at} OR used_at IS NOT NULL`)
  await sweep('mail_jobs', 'mail_jobs', sql`created_at < ${at - MAIL_JOB_DAYS * DAY_MS} AND status <> 'pending'`)
  // Passkey challenges live minutes; once over they only take room (sign-in steps are one-time tokens, swept above).
  await sweep('passkey_challenges', 'passkey_challenges', sql`expires_at <= ${at} OR used_at IS NOT NULL`)
  // A provider flow is over once exchanged, or ten minutes after it began.
  await sweep('oauth_flows', 'oauth_flows', sql`expires_at <= ${at} OR exchanged_at IS NOT NULL`)
  // A grant past its lifetime, a code never exchanged, or a grant whose browser session has ended (unless offline).
  await sweep(
    'oauth_grants',
    'oauth_grants',
    sql`expires_at <= ${at} OR (code_used_at IS NULL AND code_expires_at <= ${at}) OR (offline = 0 AND NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.id = oauth_grants.session_id))`,
  )
  const forgotten = await Promise.all(allLimiters(env.RATE_LIMITER).map((limiter) => limiter.forgetStaleStreaks(at)))
  report.limiter_streaks = forgotten.reduce((sum, count) => sum + count, 0)
  log('info', 'upkeep.done', report)
  return report
}

async function deleteInBatches(db: Database, table: string, where: ReturnType<typeof sql>, bounds: { batch: number; rounds: number }) {
  let deleted = 0
  for (let round = 0; round < bounds.rounds; round++) {
    const result = await db.run(
      sql`DELETE FROM ${sql.identifier(table)} WHERE rowid IN (SELECT rowid FROM ${sql.identifier(table)} WHERE ${where} LIMIT ${bounds.batch})`,
    )
    const changes = result.meta.changes ?? 0
    deleted += changes
    if (changes < bounds.batch) return { deleted, more: false }
  }
  return { deleted, more: true }
}
