import type { PasskeyRow } from '../db/schema'

/** The passkey as this API shows it: its own id, never the credential's. */
export const passkeyView = (row: PasskeyRow) => ({
  id: row.id,
  name: row.name,
  created_at: row.createdAt.toISOString(),
  last_used_at: row.lastUsedAt?.toISOString() ?? null,
  backed_up: row.backedUp,
  transports: row.transports ?? [],
})
