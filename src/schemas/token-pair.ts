import { z } from '@hono/zod-openapi'
import { userSchema } from './user'

export const tokenPairSchema = z
  .object({
    access_token: z.string().openapi({ description: 'EdDSA-signed JWT (typ at+jwt)' }),
    token_type: z.literal('Bearer'),
    expires_in: z.int().openapi({ description: 'Seconds until the access token expires' }),
    refresh_token: z.string().openapi({ description: 'Opaque (it names its session); single use: each refresh rotates it' }),
    refresh_expires_in: z.int().openapi({ description: 'Seconds until the session ends (absolute)' }),
    user: userSchema,
  })
  .openapi('TokenPair')

export type TokenPair = z.infer<typeof tokenPairSchema>
