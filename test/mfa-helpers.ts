import { expect, vi } from 'vitest'
import { call, expectProblem, type TokenPair } from './helpers'

/** Moves the worker's clock (Date only) on by whole TOTP steps, so each test can use fresh codes. Undo with vi.useRealTimers(). */
export function clockAt(start = Date.now()) {
  let now = start
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(now)
  return {
    now: () => now,
    steps(count: number) {
      now += count * 30_000
      vi.setSystemTime(now)
    },
  }
}

export const passwordStep = (account: { username: string; password: string }, env?: Record<string, unknown>) =>
  call('/users/login', { json: { username: account.username, password: account.password }, env })

/** The password step of an account with a second factor: its mfa_token. */
export async function mfaTokenFor(account: { username: string; password: string }, env?: Record<string, unknown>) {
  const problem = await expectProblem(await passwordStep(account, env), 403, 'mfa_required')
  return problem.mfa_token as string
}

export const secondStep = (json: object, env?: Record<string, unknown>) => call('/users/login/mfa', { json, env })

export async function pairOf(response: Response): Promise<TokenPair> {
  expect(response.status, await response.clone().text()).toBe(200)
  return (await response.json()) as TokenPair
}
