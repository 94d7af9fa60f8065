import { z } from '@hono/zod-openapi'
import { ROLES } from './auth/roles'
import type { UserRow } from './db/schema'
import type { ErrorCode } from './errors'

/** Response shapes shared by several routers, registered once as named OpenAPI components. */

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

export function publicUser(row: UserRow): z.infer<typeof userSchema> {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    role: row.role,
    email_verified: row.emailVerified,
    created_at: row.createdAt.toISOString(),
  }
}

export const tokenPairSchema = z
  .object({
    access_token: z.string().openapi({ description: 'EdDSA-signed JWT (typ at+jwt)' }),
    token_type: z.literal('Bearer'),
    expires_in: z.int().openapi({ description: 'Seconds until the access token expires' }),
    refresh_token: z.string().openapi({ description: 'Opaque; single use: each refresh rotates it' }),
    refresh_expires_in: z.int().openapi({ description: 'Seconds until the session ends (absolute)' }),
    user: userSchema,
  })
  .openapi('TokenPair')

export const problemSchema = z
  .object({
    type: z.string().openapi({ example: '/problems/username_taken' }),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string().openapi({ example: 'username_taken' }),
    request_id: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem')

/** OpenAPI response entries for the problem codes a route can answer with. */
export function problems(entries: Partial<Record<number, ErrorCode[]>>) {
  return Object.fromEntries(
    Object.entries(entries).map(([status, codes]) => [
      status,
      {
        description: `Problem: ${(codes ?? []).join(', ')}`,
        content: { 'application/problem+json': { schema: problemSchema } },
      },
    ]),
  )
}

export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  required,
  content: { 'application/json': { schema } },
})

export const jsonContent = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})
