import { type SQL, sql } from 'drizzle-orm'

/**
 * Holds while the account keeps a way to sign in besides the one being removed: its password, a
 * passkey or a linked identity (the one named in `except` not counted). The guard of every
 * removal, so the last way in is never removed, even by two removals racing.
 */
export function anotherWayIn(userId: string, except: { passkeyId?: string; identityId?: string }): SQL {
  return sql`(EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND password_hash IS NOT NULL)
    OR EXISTS (SELECT 1 FROM passkeys WHERE user_id = ${userId} AND id <> ${except.passkeyId ?? ''})
    OR EXISTS (SELECT 1 FROM identities WHERE user_id = ${userId} AND id <> ${except.identityId ?? ''}))`
}
