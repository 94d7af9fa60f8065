import { CHALLENGE_TTL_SECONDS, newChallenge } from '../auth/webauthn'
import { createPasskeyChallenge, takePasskeyChallenge } from '../db/passkeys'
import type { PasskeyCeremony } from '../db/schema'
import { problem } from '../errors'
import { refuseOnNetworkBudget } from './admit'
import type { SignInContext } from './context'

/** A challenge for a ceremony's options, stored for the account and the session or step it is made for. */
export async function issueChallenge(
  ctx: SignInContext,
  input: { ceremony: PasskeyCeremony; userId: string | null; boundTo: string | null },
): Promise<{ id: string; challenge: string }> {
  const challenge = newChallenge()
  const id = await createPasskeyChallenge(ctx.db, { ...input, challenge, ttlSeconds: CHALLENGE_TTL_SECONDS, now: ctx.now })
  return { id, challenge }
}

/**
 * Takes the challenge an answer names, or answers 400 invalid_challenge (spending from the client
 * network's budget, so guessing ids is throttled like any failure).
 */
export async function takeChallenge(
  ctx: SignInContext,
  input: { id: string; ceremony: PasskeyCeremony; userId: string | null; boundTo: string | null },
): Promise<string> {
  const challenge = await takePasskeyChallenge(ctx.db, { ...input, now: ctx.now })
  if (challenge !== undefined) return challenge
  const details = { ceremony: input.ceremony, reason: 'invalid_challenge' }
  return refuseOnNetworkBudget(ctx, problem('invalid_challenge'), {
    action: input.ceremony === 'sign_in' ? 'user.login_failed' : 'user.passkey_failed',
    actorId: input.userId,
    targetId: input.userId,
    details: input.ceremony === 'sign_in' ? { ...details, method: 'passkey' } : details,
  })
}
