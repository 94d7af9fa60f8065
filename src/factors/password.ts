import { hashPassword } from '../auth/password'
import { allOf } from '../db/sessions'
import { changePassword } from '../db/users'
import { problem, validationFailed } from '../errors'
import type { SignedIn, SignInContext } from '../sign-in/context'
import { proveAgain } from '../sign-in/reauthenticate'
import { requireRecentProof } from '../sign-in/recent-proof'

/**
 * A signed-in person changes their password: the current one is the proof (checked, throttled and
 * audited by the pipeline; an account with a second factor also needs the session's recent aal2),
 * and every other session ends. The policy was applied to the new one by whoever read the request.
 */
export async function changeOwnPassword(
  ctx: SignInContext,
  account: SignedIn,
  input: { currentPassword: string; newPassword: string },
): Promise<void> {
  const { db, config, caller: client, now } = ctx
  const { user, session } = account
  // Before the password is checked, so a request that cannot succeed costs no attempt.
  if (input.newPassword.normalize('NFC') === input.currentPassword.normalize('NFC')) {
    throw validationFailed([{ path: 'new_password', message: 'must differ from the current password' }])
  }
  await requireRecentProof(ctx, account, { passwordInBody: true })
  const { checked, at } = await proveAgain(ctx, user, [{ kind: 'password', password: input.currentPassword }], 'password_change')
  const passwordHash = await hashPassword(input.newPassword, config)
  const changed = await changePassword(db, {
    userId: user.id,
    keepSessionId: session.id,
    confirmedBy: allOf(checked.map((proof) => proof.write)).guard,
    passwordHash,
    authAt: at,
    client,
    now,
  })
  // Another change of the password landed first: the one checked here is no longer current.
  if (!changed) throw problem('invalid_password')
}
