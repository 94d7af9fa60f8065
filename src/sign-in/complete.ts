import { assuranceOf } from '../auth/assurance'
import { hashOpaqueToken, newRefreshToken } from '../auth/opaque-tokens'
import type { UserRow } from '../db/schema'
import { allOf, type ProofWrite, startSession } from '../db/sessions'
import { type ApiError, problem } from '../errors'
import { uuidv7 } from '../lib/ids'
import type { SignInContext } from './context'
import type { Grant } from './grant'
import { grantFor } from './grant'
import type { CheckedProof } from './proofs'

/** A token pair's session lasts as long as its refresh token may; a browser's, BROWSER_SESSION_TTL_SECONDS. */
const sessionTtlSeconds = ({ holder, config }: SignInContext) =>
  holder === 'browser' ? config.browserSessionTtlSeconds : config.refreshTokenTtlSeconds

/**
 * Every way of signing in ends here once its proofs checked out: the session opens with the
 * assurance those proofs reach, in one write that holds only while what they were checked against
 * is still current, and the token pair is built from it.
 */
export async function completeSignIn(
  ctx: SignInContext,
  user: UserRow,
  proofs: CheckedProof[],
  at: Date,
  /**
   * A second step's own write (its token's use, spent in this batch), and what a refused batch
   * answers: which proof another request took, or the failure a proof's own spend amounts to.
   */
  step?: { write?: ProofWrite; refused: () => Promise<ApiError> },
): Promise<Grant> {
  const { db, config, caller: client } = ctx
  const assurance = assuranceOf(
    proofs.map((proof) => proof.kind),
    at,
  )
  const id = uuidv7(at.getTime())
  const session = {
    id,
    expiresAt: new Date(at.getTime() + sessionTtlSeconds(ctx) * 1000),
    refreshToken: newRefreshToken(id),
    ...assurance,
  }
  // Signing needs nothing from the write, so the two overlap; the answer waits for both, so the
  // session exists before the client can use its tokens.
  const [started, pair] = await Promise.all([
    startSession(db, {
      id,
      userId: user.id,
      refreshTokenHash: await hashOpaqueToken(session.refreshToken),
      holder: ctx.holder,
      userAgent: ctx.caller.userAgent ?? undefined,
      expiresAt: session.expiresAt,
      assurance,
      proof: allOf([...proofs.map((proof) => proof.write), ...(step?.write ? [step.write] : [])]),
      client,
      now: at,
    }),
    grantFor(config, user, session, at),
  ])
  // What a proof was checked against changed meanwhile (the password, say): the change wins. A
  // second step that spends its proofs in this same batch says which of them another request took.
  if (!started) throw step ? await step.refused() : problem('invalid_credentials')
  return pair
}
