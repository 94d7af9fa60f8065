import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { AppEnv } from './app-env'
import type { UniqueField } from './db/users'

export type FieldError = { path: string; message: string }

/** The stable, machine-readable codes of the contract, with the title each one carries. */
const titles = {
  invalid_json: 'Invalid JSON',
  validation_failed: 'Validation failed',
  unauthorized: 'Unauthorized',
  invalid_credentials: 'Invalid credentials',
  invalid_refresh_token: 'Invalid refresh token',
  forbidden: 'Forbidden',
  account_disabled: 'Account disabled',
  invalid_password: 'Invalid password',
  invalid_token: 'Invalid token',
  email_not_verified: 'Email not verified',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  username_taken: 'Username taken',
  email_taken: 'Email taken',
  last_admin: 'Last admin',
  payload_too_large: 'Payload too large',
  unsupported_media_type: 'Unsupported media type',
  rate_limited: 'Too many requests',
  internal_error: 'Internal error',
  unavailable: 'Service unavailable',
} as const

export type ErrorCode = keyof typeof titles

export const titleOf = (code: ErrorCode) => titles[code]

type ApiErrorOptions = {
  errors?: FieldError[]
  headers?: Record<string, string>
  /** Extra problem members, e.g. the names of misconfigured variables. */
  extensions?: Record<string, unknown>
}

/** The one error type handlers throw; `onError` renders it as RFC 9457 problem details. */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode
  readonly code: ErrorCode
  readonly detail: string
  readonly errors?: FieldError[]
  readonly headers: Record<string, string>
  readonly extensions: Record<string, unknown>

  constructor(status: ContentfulStatusCode, code: ErrorCode, detail: string, options: ApiErrorOptions = {}) {
    super(detail)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.detail = detail
    this.errors = options.errors
    this.headers = options.headers ?? {}
    this.extensions = options.extensions ?? {}
  }
}

export function problemBody(error: ApiError, requestId: string) {
  return {
    type: `/problems/${error.code}`,
    title: titles[error.code],
    status: error.status,
    detail: error.detail,
    code: error.code,
    request_id: requestId,
    ...(error.errors ? { errors: error.errors } : {}),
    ...error.extensions,
  }
}

export function problemResponse(c: Context<AppEnv>, error: ApiError): Response {
  const body = JSON.stringify(problemBody(error, c.var.requestId))
  const headers = new Headers(error.headers)
  headers.set('Content-Type', 'application/problem+json')
  // c.newResponse keeps headers other middleware already set (request id, security headers).
  return c.newResponse(body, error.status, Object.fromEntries(headers))
}

export const validationFailed = (errors: FieldError[]) =>
  new ApiError(400, 'validation_failed', 'The request has fields that are missing or invalid.', { errors })

export const notFound = () => new ApiError(404, 'not_found', 'No such resource.')

export const internalError = () =>
  new ApiError(500, 'internal_error', 'Something went wrong on our side; the request id identifies it in the logs.')

/** A username or email that belongs to another account: 409, naming which. */
export function takenError(field: UniqueField): ApiError {
  return field === 'username'
    ? new ApiError(409, 'username_taken', 'That username is already in use.')
    : new ApiError(409, 'email_taken', 'That email address is already in use.')
}
