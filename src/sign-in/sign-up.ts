import { hashPassword } from '../auth/password'
import type { UserRow } from '../db/schema'
import { createUser, findTakenFields } from '../db/users'
import { takenError } from '../errors'
import { uuidv7 } from '../lib/ids'
import type { SignInContext } from './context'

/**
 * A new account, `user` role, its address not yet proved (the caller queues the verification
 * mail). A taken username or address is 409, checked before hashing so it costs no PBKDF2 work;
 * the unique index still decides when two sign-ups race. The policy was applied to the password
 * by whoever read the request.
 */
export async function createAccount(ctx: SignInContext, input: { username: string; email: string; password: string }): Promise<UserRow> {
  const { db, config, caller: client, now } = ctx
  const [taken] = await findTakenFields(db, { username: input.username, email: input.email })
  if (taken) throw takenError(taken)
  const passwordHash = await hashPassword(input.password, config)
  const created = await createUser(db, {
    id: uuidv7(now.getTime()),
    username: input.username,
    email: input.email,
    passwordHash,
    client,
    now,
  })
  if (created.taken) throw takenError(created.taken)
  if (!created.user) throw new Error('the insert returned no row')
  return created.user
}
