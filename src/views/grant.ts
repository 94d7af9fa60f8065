/** A person's consent to an application, as they see it under "Apps with access". */
export const grantView = (row: { clientId: string; clientName: string; scopes: string[]; createdAt: Date; lastUsedAt: number | null }) => ({
  client_id: row.clientId,
  client_name: row.clientName,
  scopes: row.scopes,
  created_at: row.createdAt.toISOString(),
  last_used_at: row.lastUsedAt === null ? null : new Date(row.lastUsedAt).toISOString(),
})
