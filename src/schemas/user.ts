import { z } from '@hono/zod-openapi'
import { ROLES } from '../auth/roles'

export const userSchema = z
  .object({
    id: z.uuid(),
    username: z.string(),
    email: z.email(),
    role: z.enum(ROLES),
    email_verified: z.boolean(),
    created_at: z.iso.datetime(),
  })
  .openapi('User')

export const userEnvelope = z.object({ user: userSchema }).openapi('UserEnvelope')

/** The user as its owner sees it (GET and PATCH /users/me): with an address change waiting for confirmation. */
export const ownUserSchema = userSchema
  .extend({
    pending_email: z.email().nullable().openapi({ description: 'A new address waiting for its link to be used; null when none' }),
  })
  .openapi('OwnUser')

export const ownUserEnvelope = z.object({ user: ownUserSchema }).openapi('OwnUserEnvelope')
