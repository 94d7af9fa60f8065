import type { Hook } from '@hono/zod-openapi'
import { z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { passwordProblem } from '../auth/password-policy'
import { type FieldError, validationFailed } from '../errors'

// Messages written for the person reading the error, not zod's internal phrasing.
z.config({
  customError: (issue) => {
    if (issue.code === 'invalid_type') return issue.input === undefined ? 'is required' : `must be a ${issue.expected}`
    return undefined
  },
})

/** One entry per failing field, the first message for each, as the contract asks. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  const byPath = new Map<string, string>()
  for (const issue of error.issues) {
    const path = issue.path.map(String).join('.')
    if (!byPath.has(path)) byPath.set(path, issue.message)
  }
  return [...byPath].map(([path, message]) => ({ path, message }))
}

/** The default hook of every router: a failed validation becomes 400 validation_failed. */
export const rejectInvalid: Hook<unknown, AppEnv, string, unknown> = (result) => {
  if (!result.success) throw validationFailed(fieldErrors(result.error))
}

type PolicyFields = { password: unknown; username?: unknown; email?: unknown }

/**
 * A hook for bodies carrying a new password: besides the schema it applies the password policy,
 * which depends on configuration (the minimum length) and on the account's name and email, and
 * reports its verdict together with the schema's, so every failing field is listed at once.
 */
export function withPasswordPolicy<T, P extends string, R = undefined>(
  field: string,
  accountOf: (body: Record<string, unknown>, c: Parameters<Hook<T, AppEnv, P, R>>[1]) => PolicyFields,
): Hook<T, AppEnv, P, R | undefined> {
  return (result, c) => {
    const errors = result.success ? [] : fieldErrors(result.error)
    // A failed result carries no data: the body as parsed by jsonOnly() still names the fields.
    const data: unknown = result.success ? result.data : c.var.requestJson
    const body = isRecord(data) ? data : {}
    const { password, username, email } = accountOf(body, c)
    if (typeof password === 'string' && !errors.some((error) => error.path === field)) {
      const problem = passwordProblem(password, {
        minLength: c.var.config.passwordMinLength,
        username: typeof username === 'string' ? username : undefined,
        email: typeof email === 'string' ? email : undefined,
      })
      if (problem) errors.push({ path: field, message: problem })
    }
    if (errors.length > 0) throw validationFailed(errors)
    return undefined
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
