import type { z } from '@hono/zod-openapi'

/** A route's request body: JSON validated by `schema`. */
export const jsonRequest = <T extends z.ZodType>(schema: T, required = true) => ({
  required,
  content: { 'application/json': { schema } },
})

/** A route's JSON response of one status. */
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})

/** The OpenAPI security requirement of routes that need an access token. */
export const bearerAuth = [{ bearer: [] }]

/** The security requirement of a route anyone may call: none, said explicitly. */
export const noAuth = []
