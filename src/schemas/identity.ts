import { z } from '@hono/zod-openapi'
import type { IdentityRow } from '../db/schema'

export const identitySchema = z
  .object({
    id: z.string(),
    provider: z.string(),
    email: z.string().nullable(),
    created_at: z.iso.datetime(),
    last_used_at: z.iso.datetime().nullable(),
  })
  .openapi('Identity')

/** A linked identity as this API shows it. */
export const identityView = (row: IdentityRow) => ({
  id: row.id,
  provider: row.provider,
  email: row.email,
  created_at: row.createdAt.toISOString(),
  last_used_at: row.lastUsedAt?.toISOString() ?? null,
})
