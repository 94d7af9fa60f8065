import type { IdentityRow } from '../db/schema'

/** A linked identity as this API shows it: the provider and the address it vouched for, never its subject. */
export const identityView = (row: IdentityRow) => ({
  id: row.id,
  provider: row.provider,
  email: row.email,
  created_at: row.createdAt.toISOString(),
  last_used_at: row.lastUsedAt?.toISOString() ?? null,
})
