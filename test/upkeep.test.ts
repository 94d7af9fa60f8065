import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import worker from '../src/index'
import { runUpkeep } from '../src/jobs/upkeep'
import { call, deliver, limiterStorageKeys, login, mailRig, newAccount, refresh, signup } from './helpers'

const DAY = 86_400_000

/** The daily Cron Trigger, as the platform fires it, at `at`. */
async function fireDailyUpkeep(at: number, overrides: Record<string, string> = {}) {
  const ctx = createExecutionContext()
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: '17 3 * * *' }), { ...env, ...overrides } as typeof env, ctx)
  await waitOnExecutionContext(ctx)
}

const count = (table: string) => env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<number>('n')

describe('daily upkeep (Cron Trigger)', () => {
  it('deletes expired sessions, keeps live ones, and changes nothing when run again', async () => {
    const { account } = await signup()
    const first = await login(account)
    await refresh(first.refresh_token)

    await fireDailyUpkeep(Date.now() + DAY)
    expect(await count('sessions')).toBeGreaterThan(0)

    await fireDailyUpkeep(Date.now() + 31 * DAY) // past REFRESH_TOKEN_TTL_SECONDS (30 days)
    expect(await count('sessions')).toBe(0)
    const report = await runUpkeep(env, new Date(Date.now() + 31 * DAY))
    expect(report).toMatchObject({ sessions: 0, audit_events: 0, mail_tokens: 0, mail_jobs: 0, more: false })
  })

  it('deletes audit events older than AUDIT_RETENTION_DAYS and keeps younger ones', async () => {
    await signup()
    const before = await count('audit_events')
    await fireDailyUpkeep(Date.now() + 2 * DAY, { AUDIT_RETENTION_DAYS: '3' })
    expect(await count('audit_events')).toBe(before)
    await fireDailyUpkeep(Date.now() + 4 * DAY, { AUDIT_RETENTION_DAYS: '3' })
    expect(await count('audit_events')).toBe(0)
  })

  it('deletes mail tokens that expired or were used', async () => {
    const rig = mailRig()
    await call('/users/signup', { json: newAccount(), env: rig.env })
    await deliver(rig.jobs, rig)
    expect(await count('mail_tokens')).toBe(1)
    await fireDailyUpkeep(Date.now() + DAY / 2)
    expect(await count('mail_tokens')).toBe(1)
    await fireDailyUpkeep(Date.now() + 2 * DAY) // past VERIFY_TOKEN_TTL_SECONDS (24 hours)
    expect(await count('mail_tokens')).toBe(0)
  })

  it("forgets the limiter's stale streaks for names with no account", async () => {
    const stranger = newAccount()
    for (let i = 0; i < 2; i++) await call('/users/login', { json: { username: stranger.username, password: 'any-password-at-all' } })
    const streaks = () => limiterStorageKeys('streak:name:')
    expect((await streaks()).length).toBeGreaterThan(0)
    await fireDailyUpkeep(Date.now() + 2 * DAY)
    expect(await streaks()).toHaveLength(0)
  })

  it('deletes in bounded batches and says when more is left for the next run', async () => {
    for (let i = 0; i < 5; i++) await signup()
    const report = await runUpkeep({ ...env, AUDIT_RETENTION_DAYS: '1' } as typeof env, new Date(Date.now() + 2 * DAY), {
      batch: 2,
      rounds: 2,
    })
    expect(report.audit_events).toBe(4)
    expect(report.more).toBe(true)
    const next = await runUpkeep({ ...env, AUDIT_RETENTION_DAYS: '1' } as typeof env, new Date(Date.now() + 2 * DAY), {
      batch: 2,
      rounds: 10,
    })
    expect(next.more).toBe(false)
    expect(await count('audit_events')).toBe(0)
  })
})
