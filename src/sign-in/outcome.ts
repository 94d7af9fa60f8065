import type { Grant } from './grant'

/**
 * What a sign-in comes to, for the caller to answer in its own way (a route as JSON, a hosted page
 * with a cookie, an authorization endpoint with a grant): signed in, with the new session's
 * grant; or one proof short, with the single-use step that waits for the second.
 */
export type SignInOutcome =
  | { kind: 'signed_in'; grant: Grant }
  | { kind: 'second_step'; mfaToken: string; methods: string[]; expiresIn: number }
