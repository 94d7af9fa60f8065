import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import { holdBrowserSession } from '../http/browser-session'
import { setHostCookie } from '../http/cookies'
import type { SignInOutcome } from '../sign-in/outcome'

/**
 * Between a password and its second factor the browser holds the `mfa_token` in a cookie of its
 * own (`__Host-edge-users-second-step`, HttpOnly, as long as the step lasts), with the methods
 * the page offers: the methods only shape the page, the token alone is checked.
 */
export const SECOND_STEP_COOKIE = 'edge-users-second-step'

/** Every short-lived cookie a page flow sets (the second step, a provider sign-in, a link): sign-out clears them all. */
export const FLOW_COOKIES = [SECOND_STEP_COOKIE, 'edge-users-provider', 'edge-users-link'] as const

const METHODS = new Set(['totp', 'recovery_code', 'passkey'])

export function secondStepCookieValue(outcome: Extract<SignInOutcome, { kind: 'second_step' }>): string {
  return `${outcome.mfaToken}~${outcome.methods.filter((method) => METHODS.has(method)).join('.')}`
}

/** The step's token and methods as the cookie holds them, or undefined for anything else. */
export function readSecondStepCookie(value: string | undefined): { mfaToken: string; methods: string[] } | undefined {
  const match = value ? /^([A-Za-z0-9_-]{43})~([a-z_.]*)$/.exec(value) : null
  if (!match?.[1]) return undefined
  return { mfaToken: match[1], methods: (match[2] ?? '').split('.').filter((method) => METHODS.has(method)) }
}

/**
 * A sign-in's outcome as a page answers it (the counterpart of http/sign-in-answer.ts): signed
 * in, the browser holds the session and goes on to `returnTo`; one proof short, it holds the step
 * and goes to /sign-in/second-step, which comes back to `returnTo` after.
 */
export function browserSignInAnswer(c: Context<AppEnv>, outcome: SignInOutcome, returnTo: string): Response {
  if (outcome.kind === 'signed_in') {
    holdBrowserSession(c, outcome.grant)
    return c.redirect(returnTo, 303)
  }
  setHostCookie(c, SECOND_STEP_COOKIE, secondStepCookieValue(outcome), outcome.expiresIn)
  return c.redirect(`/sign-in/second-step?return_to=${encodeURIComponent(returnTo)}`, 303)
}
