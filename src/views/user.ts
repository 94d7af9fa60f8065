import type { UserRow } from '../db/schema'

/** An account as anyone allowed to see it sees it: never a hash, a secret or a staff-only field. */
export const userView = (row: UserRow) => ({
  id: row.id,
  username: row.username,
  email: row.email,
  role: row.role,
  email_verified: row.emailVerified,
  created_at: row.createdAt.toISOString(),
})

/** The account as its owner sees it (GET and PATCH /users/me): with an address change waiting for confirmation. */
export const ownUserView = (row: UserRow) => ({ ...userView(row), pending_email: row.pendingEmail })

/** The account as staff (and its owner's export) see it: whether it is disabled and when it last signed in. */
export const staffUserView = (row: UserRow) => ({
  ...userView(row),
  disabled: row.disabled,
  last_login_at: row.lastLoginAt?.toISOString() ?? null,
})
