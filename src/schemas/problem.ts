import { z } from '@hono/zod-openapi'
import { type ErrorCode, titleOf } from '../errors'

export const problemSchema = z
  .object({
    type: z.string().openapi({ example: '/problems/username_taken' }),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    code: z.string().openapi({ example: 'username_taken' }),
    request_id: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    // The members some problems add, typed so a client narrows on `code` and reads them.
    mfa_token: z.string().optional().openapi({ description: 'mfa_required: the single-use token for POST /users/login/mfa' }),
    methods: z
      .array(z.string())
      .optional()
      .openapi({ description: 'mfa_required and reauthentication_required: the methods that will do' }),
    expires_in: z.int().optional().openapi({ description: 'mfa_required: seconds the mfa_token lives' }),
    required_aal: z.enum(['aal1', 'aal2']).optional().openapi({ description: 'reauthentication_required: the assurance needed' }),
    max_age: z.int().optional().openapi({ description: 'reauthentication_required: REAUTH_MAX_AGE_SECONDS' }),
  })
  .openapi('Problem')

type ProblemList = Partial<Record<number, ErrorCode[]>>

/**
 * A body route's problems: those it names, and what every route with a JSON body can answer
 * before its own code runs (malformed JSON, a body over 16 KiB, one that is not JSON).
 */
export function bodyProblems(entries: ProblemList) {
  const withBody: ProblemList = {
    ...entries,
    400: ['invalid_json', ...(entries[400] ?? []).filter((code) => code !== 'invalid_json')],
    413: ['payload_too_large'],
    415: ['unsupported_media_type'],
  }
  return problems(withBody)
}

/** OpenAPI response entries for the problem codes a route can answer with. */
export function problems(entries: ProblemList) {
  return Object.fromEntries(
    Object.entries(entries).map(([status, codes]) => [
      status,
      {
        description: `Problem: ${(codes ?? []).join(', ')}`,
        content: {
          'application/problem+json': {
            schema: problemSchema,
            // One example per code the route can answer with this status, so a 401 shows unauthorized.
            examples: Object.fromEntries(
              (codes ?? []).map((code) => [
                code,
                {
                  value: {
                    type: `/problems/${code}`,
                    title: titleOf(code),
                    status: Number(status),
                    detail: '…',
                    code,
                    request_id: '8f1a2b3c4d5e6f70-AMS',
                  },
                },
              ]),
            ),
          },
        },
      },
    ]),
  )
}
