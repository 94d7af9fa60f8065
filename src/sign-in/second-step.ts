import type { SQL } from 'drizzle-orm'
import type { ProofKind } from '../auth/assurance'
import { hashOpaqueToken, newOpaqueToken } from '../auth/opaque-tokens'
import type { AuthenticationResponse } from '../auth/webauthn'
import { recordEvent } from '../db/audit'
import { secondFactorsOf, spendTotpStepInBatch } from '../db/factors'
import { resetBinding } from '../db/mail'
import {
  createChallenge,
  findLiveStep,
  reserveChallengeAttempt,
  stepIsLive,
  stepStillLive,
  stepUsedBy,
  useChallenge,
  useStepInBatch,
} from '../db/one-time-tokens'
import type { UserRow } from '../db/schema'
import { allOf, guardHolds } from '../db/sessions'
import { passwordSignIn, proofSignIn, rehashPassword } from '../db/users'
import { type ApiError, problem } from '../errors'
import { uuidv7 } from '../lib/ids'
import { accountSubject } from '../rate-limit/client'
import { methodsFor } from './account-methods'
import { admitAttempt, refuseOnNetworkBudget } from './admit'
import { completeSignIn } from './complete'
import type { SignInContext } from './context'
import type { Grant } from './grant'
import { activeTotpStep } from './methods/totp'
import { NOTHING_TO_WRITE } from './methods/types'
import type { SignInOutcome } from './outcome'
import { takeChallenge } from './passkey-challenges'
import { type CheckedProof, checkProof, type SecondFactorProof } from './proofs'

/** How long the second step of a sign-in may wait, and how many wrong codes it takes. */
export const MFA_TOKEN_TTL_SECONDS = 300
export const MFA_TOKEN_ATTEMPTS = 5

/**
 * The first factor checked out on an account with a second one: no tokens yet. A single-use
 * `mfa_token` (stored as a hash, bound to the account and to the password it followed) waits for
 * the second proof, and the answer is 403 mfa_required with it and the methods that will do.
 * The first proof's re-hash is written now (the password is at hand only now); its
 * last_auth_at is not: the failure streak ends only when the second step succeeds, so a known
 * password does not buy fresh guesses at the code.
 */
export async function askForSecondFactor(ctx: SignInContext, user: UserRow, first: CheckedProof, at: Date): Promise<SignInOutcome> {
  const { db } = ctx
  const [factors] = await Promise.all([
    secondFactorsOf(db, user.id),
    ...(first.write.rehash ? [rehashPassword(db, first.write.rehash)] : []),
  ])
  const token = newOpaqueToken()
  const passwordHash = first.write.rehash?.newHash ?? user.passwordHash
  await createChallenge(db, {
    id: uuidv7(at.getTime()),
    tokenHash: await hashOpaqueToken(token),
    purpose: 'mfa',
    userId: user.id,
    firstFactor: first.kind,
    boundTo: await resetBinding({ passwordHash, email: user.email }),
    attempts: MFA_TOKEN_ATTEMPTS,
    ttlSeconds: MFA_TOKEN_TTL_SECONDS,
    now: at,
  })
  const methods = methodsFor({ hasPassword: passwordHash !== null, factors }).secondStep
  return { kind: 'second_step', mfaToken: token, methods, expiresIn: MFA_TOKEN_TTL_SECONDS }
}

/**
 * The sign-in step an `mfa_token` names, while it can still be answered and is bound to the
 * password (and address) it followed: a password changed or reset since leaves it dead. A refused
 * token is 401 invalid_mfa_token and spends from the client network's budget.
 */
export async function findSecondStep(ctx: SignInContext, mfaToken: string, now = ctx.now) {
  const found = await findLiveStep(ctx.db, { tokenHash: await hashOpaqueToken(mfaToken), now })
  if (found && found.token.boundTo === (await resetBinding(found.user)))
    return { challenge: found.token, user: found.user, totp: found.totp }
  return refuseOnNetworkBudget(ctx, problem('invalid_mfa_token'))
}

/** A second step's answer as the request gives it: a code, or a passkey assertion with its challenge's id. */
export type SecondStepAnswer =
  | Exclude<SecondFactorProof, { kind: 'passkey' }>
  | { kind: 'passkey'; challengeId: string; credential: AuthenticationResponse }

/**
 * POST /users/login/mfa: the second proof against the `mfa_token`. Throttled by the account's
 * failure streak like the password was (shared backoff and lock), each answer taking one of the
 * token's attempts before it is checked and each wrong one audited; a right one uses the token up
 * and opens the session at `aal2` with both proofs' methods.
 */
export async function completeSecondStep(ctx: SignInContext, input: { mfaToken: string; answer: SecondStepAnswer }): Promise<Grant> {
  const { db, config, caller: client } = ctx
  const { now } = ctx
  const { challenge, user, totp } = await findSecondStep(ctx, input.mfaToken, now)
  if (user.disabled) throw problem('account_disabled')

  const { answer } = input
  // A passkey's challenge must be one handed out for this very step (an unknown or used one is
  // 400 invalid_challenge and costs no attempt: no assertion was checked).
  const proof: SecondFactorProof =
    answer.kind === 'passkey'
      ? {
          kind: 'passkey',
          challenge: await takeChallenge(ctx, { id: answer.challengeId, ceremony: 'second_step', userId: user.id, boundTo: challenge.id }),
          credential: answer.credential,
        }
      : answer
  const attempt = await admitAttempt(ctx, accountSubject(user.id), user)
  // The token's attempt is taken before the answer is checked: concurrent answers past its
  // MFA_TOKEN_ATTEMPTS are never checked, whatever the account's own streak allows.
  if (!(await reserveChallengeAttempt(db, { id: challenge.id, now: attempt.at }))) {
    const details = { purpose: 'login', method: proof.kind, reason: 'no_attempt_left' }
    return refuseOnNetworkBudget(ctx, problem('invalid_mfa_token'), { action: 'user.mfa_failed', targetId: user.id, details })
  }
  const wrongCode = async (): Promise<ApiError> => {
    const details = { purpose: 'login', method: proof.kind }
    await recordEvent(db, { action: 'user.mfa_failed', targetId: user.id, details }, client, attempt.at)
    return problem('invalid_mfa_code')
  }
  // The first proof's write again: a password's holds only while the password is the one checked.
  const firstKind = challenge.firstFactor as ProofKind
  const firstProof = (when?: SQL): CheckedProof => ({
    kind: firstKind,
    write:
      firstKind === 'password'
        ? passwordSignIn(db, { userId: user.id, checkedHash: user.passwordHash ?? '', now: attempt.at, login: true, when })
        : proofSignIn(db, { userId: user.id, now: attempt.at, login: true, when }),
  })
  if (proof.kind === 'totp') {
    // The factor was read with the step: the code is checked here, and its time step and the step's
    // token are spent in the very batch that opens the session, each marked as this request's.
    const step = await activeTotpStep(config, totp, proof.code, attempt.at)
    if (step === undefined) throw await wrongCode()
    const marker = `used:${crypto.randomUUID()}`
    // The step is spent only while the token can still open a session: a lost race spends nothing.
    const live = stepIsLive({ id: challenge.id, now: attempt.at })
    const spend = spendTotpStepInBatch(db, { userId: user.id, step, spentBy: challenge.id, now: attempt.at, when: live })
    const use = useStepInBatch(db, { id: challenge.id, marker, now: attempt.at, when: spend.guard })
    const first = firstProof(use.guard)
    const write = allOf([
      { guard: spend.guard, records: [], before: [spend.statement] },
      { guard: use.guard, records: [], before: [use.statement] },
    ])
    // Refused: this request spent and used its step (so the first factor changed), or the step's
    // token went meanwhile (another answer used it up, or it expired), or another sign-in spent the code.
    const refused = async () =>
      (await stepUsedBy(db, { id: challenge.id, marker }))
        ? problem('invalid_credentials')
        : !(await stepStillLive(db, { id: challenge.id, now: attempt.at }))
          ? problem('invalid_mfa_token')
          : wrongCode()
    return completeSignIn(ctx, user, [first, { kind: 'totp', write: NOTHING_TO_WRITE }], attempt.at, { write, refused })
  }
  const checked = await checkProof({ db, config, now: attempt.at, client, signIn: true }, user, proof)
  if (!checked) throw await wrongCode()
  // The first proof's record holds only with the second's spend (a passkey's counter, set in the
  // session's batch): a lost race records no sign-in, so its failure still counts in the streak.
  const first = firstProof(checked.write.guard)
  if (!(await useChallenge(db, { id: challenge.id, now: attempt.at }))) throw problem('invalid_mfa_token')
  // A passkey's counter is set in the session's batch: a rival assertion that set it first makes
  // this a wrong answer; where this one set it, what the first proof was checked against changed.
  const refused = async () => ((await guardHolds(db, checked.write.guard)) ? problem('invalid_credentials') : wrongCode())
  return completeSignIn(ctx, user, [first, checked], attempt.at, { refused })
}
