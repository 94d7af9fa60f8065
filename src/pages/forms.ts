import type { Context } from 'hono'
import type { z } from 'zod'
import type { AppEnv } from '../app-env'
import { passwordProblem } from '../auth/password-policy'
import { validationFailed } from '../errors'
import { fieldErrors } from '../http/validation'

/**
 * A page's form, checked with the same field schemas as the JSON API (and, for a new password,
 * the same policy): the data, or 400 validation_failed naming every failing field.
 */
export function readForm<S extends z.ZodType>(
  c: Context<AppEnv>,
  schema: S,
  newPassword?: { field: string; username?: string; email?: string },
): z.output<S> {
  const result = schema.safeParse(c.var.form)
  const errors = result.success ? [] : fieldErrors(result.error)
  const password = c.var.form[newPassword?.field ?? '']
  if (newPassword && typeof password === 'string' && password !== '' && !errors.some((error) => error.path === newPassword.field)) {
    const problem = passwordProblem(password, {
      minLength: c.var.config.passwordMinLength,
      username: newPassword.username,
      email: newPassword.email,
    })
    if (problem) errors.push({ path: newPassword.field, message: problem })
  }
  if (errors.length > 0 || !result.success) throw validationFailed(errors)
  return result.data
}
