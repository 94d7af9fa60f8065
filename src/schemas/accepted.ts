import { z } from '@hono/zod-openapi'

/** The answer of a request whose work happens later (a mail): the same for every caller. */
export const acceptedSchema = z.object({ status: z.literal('accepted') }).openapi('Accepted')
