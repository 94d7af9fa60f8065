import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { call, signup } from './helpers'

/*
 * Whether an account exists must not show in a login's answer or its timing. The medians of
 * interleaved samples are compared: a path that skipped the PBKDF2 work (about 18 ms here) would
 * differ by far more than the tolerance.
 */
const SAMPLES = 15
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

async function timed(request: () => Promise<Response>) {
  const started = performance.now()
  const response = await request()
  await response.arrayBuffer()
  return { ms: performance.now() - started, status: response.status }
}

function expectAlike(a: number[], b: number[]) {
  const [ma, mb] = [median(a), median(b)]
  expect(Math.abs(ma - mb), `medians ${ma.toFixed(1)} ms and ${mb.toFixed(1)} ms`).toBeLessThanOrEqual(Math.max(4, 0.35 * Math.max(ma, mb)))
}

describe('enumeration resistance', () => {
  it('times an unknown account like a wrong password', async () => {
    const { account } = await signup()
    const known: number[] = []
    const unknown: number[] = []
    // Generous limits: this measures the work, not the limiter.
    const env = { LOGIN_FREE_FAILURES: '99', RATE_LIMIT_PER_IP_PER_MINUTE: '100000' }
    for (let i = 0; i < SAMPLES; i++) {
      const wrong = await timed(() => call('/users/login', { json: { username: account.username, password: `wrong-${i}-password` }, env }))
      const ghost = await timed(() =>
        call('/users/login', { json: { username: `ghost_${i}_${account.username}`, password: `wrong-${i}-password` }, env }),
      )
      expect([wrong.status, ghost.status]).toEqual([401, 401])
      known.push(wrong.ms)
      unknown.push(ghost.ms)
    }
    expectAlike(known, unknown)
    // And both did the hash work: far slower than a request that does none.
    const hello: number[] = []
    for (let i = 0; i < SAMPLES; i++) hello.push((await timed(() => call('/hello'))).ms)
    expect(median(unknown)).toBeGreaterThan(median(hello) + 8)
  })

  describe('when throttled', () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(Date.parse('2027-06-01T00:00:00Z'))
    })
    afterEach(() => {
      vi.useRealTimers()
    })

    it('times a throttled unknown account like a throttled known one', async () => {
      const { account } = await signup()
      const ghost = `ghost_${account.username}`
      const env = { LOGIN_FREE_FAILURES: '1', RATE_LIMIT_PER_IP_PER_MINUTE: '100000' }
      for (const username of [account.username, ghost]) {
        await call('/users/login', { json: { username, password: 'wrong-wrong-wrong' }, env })
      }
      const known: number[] = []
      const unknown: number[] = []
      for (let i = 0; i < SAMPLES; i++) {
        const a = await timed(() => call('/users/login', { json: { username: account.username, password: 'wrong-wrong-wrong' }, env }))
        const b = await timed(() => call('/users/login', { json: { username: ghost, password: 'wrong-wrong-wrong' }, env }))
        expect([a.status, b.status]).toEqual([429, 429])
        known.push(a.ms)
        unknown.push(b.ms)
      }
      expectAlike(known, unknown)
    })
  })
})
