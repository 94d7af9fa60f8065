import { problem } from '../errors'
import type { TokenPair } from '../schemas/token-pair'
import type { SignInOutcome } from '../sign-in/outcome'
import { tokenPairOf } from './token-pair'

/**
 * A sign-in's outcome as the JSON API answers it: the token pair, or 403 mfa_required carrying
 * the `mfa_token`, the methods that will do and how long the step waits.
 */
export function signInAnswer(outcome: SignInOutcome): TokenPair {
  if (outcome.kind === 'signed_in') return tokenPairOf(outcome.grant)
  throw problem('mfa_required', {
    extensions: { mfa_token: outcome.mfaToken, methods: outcome.methods, expires_in: outcome.expiresIn },
  })
}
