/** The statuses a problem is answered with (no framework's type: the catalog stands on its own). */
type ProblemStatus = 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 429 | 500 | 503

export type FieldError = { path: string; message: string }

/** The largest request body the API reads (the contract's 16 KiB). */
export const MAX_BODY_BYTES = 16 * 1024

/**
 * Every problem the API answers with, in one place: its status, title and the one message it
 * carries. Handlers and middleware build errors from here (`problem(code)`), so a code always
 * means the same thing in the same words, and the OpenAPI examples are made from the same table.
 */
const catalog = {
  invalid_json: [400, 'Invalid JSON', 'The request body is not valid JSON.'],
  validation_failed: [400, 'Validation failed', 'The request has fields that are missing or invalid.'],
  invalid_token: [400, 'Invalid token', 'The link is invalid, expired, already used or replaced by a newer one.'],
  invalid_challenge: [400, 'Invalid challenge', 'The challenge is unknown, expired or already used; start again.'],
  unauthorized: [401, 'Unauthorized', 'This needs a valid access token.'],
  invalid_credentials: [401, 'Invalid credentials', 'The username or password is incorrect.'],
  invalid_refresh_token: [401, 'Invalid refresh token', 'The refresh token is unknown, expired, revoked or already used.'],
  invalid_mfa_code: [401, 'Invalid code', 'The code is wrong, already used or expired.'],
  invalid_mfa_token: [401, 'Invalid MFA token', 'The sign-in step is unknown, expired, used or out of attempts; log in again.'],
  passkey_failed: [401, 'Passkey failed', 'The passkey response does not verify.'],
  forbidden: [403, 'Forbidden', 'Your role does not allow this, on this account.'],
  csrf_failed: [403, 'Form refused', 'This form did not come from this site, or it is too old: reload the page and try again.'],
  account_disabled: [403, 'Account disabled', 'This account has been disabled.'],
  invalid_password: [403, 'Invalid password', 'The current password is incorrect.'],
  invitation_email_mismatch: [
    403,
    'Invitation for another address',
    'The invitation was sent to another address: accept it from the account whose verified address it went to.',
  ],
  email_not_verified: [403, 'Email not verified', 'Confirm your email address first: follow the link in the verification mail.'],
  mfa_required: [403, 'Second factor required', 'The password was right; finish signing in with a second factor.'],
  reauthentication_required: [403, 'Re-authentication required', 'This action needs a recent proof of who you are: re-authenticate first.'],
  not_found: [404, 'Not found', 'No such resource.'],
  method_not_allowed: [405, 'Method not allowed', 'This resource does not answer that method; see the Allow header.'],
  username_taken: [409, 'Username taken', 'That username is already in use.'],
  email_taken: [409, 'Email taken', 'That email address is already in use.'],
  last_admin: [409, 'Last admin', 'That would leave no enabled admin; make another admin first.'],
  mfa_already_enabled: [
    409,
    'Second factor already enabled',
    'An authenticator app is already enabled; disable it first to enrol another.',
  ],
  passkey_exists: [409, 'Passkey exists', 'That passkey is already registered.'],
  passkey_limit: [409, 'Passkey limit', 'This account holds 10 passkeys, the most it may; remove one first.'],
  account_exists: [409, 'Account exists', 'An account already holds that address; sign in to it and link the provider from there.'],
  last_sign_in_method: [409, 'Last sign-in method', 'That is the last way to sign in to this account; add another first.'],
  slug_taken: [409, 'Slug taken', 'Another organization already uses that slug.'],
  last_owner: [409, 'Last owner', 'That would leave the organization without an owner; make another owner first.'],
  already_member: [409, 'Already a member', 'The account with that address is already a member of the organization.'],
  role_exists: [409, 'Role exists', 'The organization already has a role of that name.'],
  role_in_use: [409, 'Role in use', 'Members or open invitations still hold that role; take it from them first.'],
  payload_too_large: [413, 'Payload too large', `The request body must be at most ${MAX_BODY_BYTES / 1024} KiB.`],
  unsupported_media_type: [415, 'Unsupported media type', 'Send the body as JSON with Content-Type: application/json.'],
  rate_limited: [429, 'Too many requests', 'Too many attempts; wait before trying again.'],
  internal_error: [500, 'Internal error', 'Something went wrong on our side; the request id identifies it in the logs.'],
  unavailable: [503, 'Service unavailable', 'Not ready: the configuration or the database is not usable.'],
} as const satisfies Record<string, readonly [ProblemStatus, string, string]>

export type ErrorCode = keyof typeof catalog

/** Whether a word is one of the catalog's codes (a code read back from a URL, say). */
export const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(catalog, code)
export type StatusOf<C extends ErrorCode> = (typeof catalog)[C][0]

export const titleOf = (code: ErrorCode) => catalog[code][1]
export const statusOf = <C extends ErrorCode>(code: C): StatusOf<C> => catalog[code][0]

type ProblemOptions = {
  errors?: FieldError[]
  headers?: Record<string, string>
  /** Extra problem members (an mfa_token, the names of misconfigured variables). */
  extensions?: Record<string, unknown>
  /** Facts appended to the catalog's message, for answers that carry data (which methods, which variables). */
  context?: string
}

/** The one error type handlers throw; `onError` renders it as RFC 9457 problem details. */
export class ApiError extends Error {
  readonly status: ProblemStatus
  readonly code: ErrorCode
  readonly detail: string
  readonly errors?: FieldError[]
  readonly headers: Record<string, string>
  readonly extensions: Record<string, unknown>

  constructor(code: ErrorCode, options: ProblemOptions = {}) {
    const [status, , message] = catalog[code]
    const detail = options.context ? `${message} ${options.context}` : message
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

/** The error for a code, as the catalog words it. */
export const problem = (code: ErrorCode, options?: ProblemOptions) => new ApiError(code, options)

export function problemBody(error: ApiError, requestId: string) {
  return {
    type: `/problems/${error.code}`,
    title: titleOf(error.code),
    status: error.status,
    detail: error.detail,
    code: error.code,
    request_id: requestId,
    ...(error.errors ? { errors: error.errors } : {}),
    ...error.extensions,
  }
}

export const validationFailed = (errors: FieldError[]) => problem('validation_failed', { errors })

export const rateLimited = (retryAfterSeconds: number) => problem('rate_limited', { headers: { 'Retry-After': String(retryAfterSeconds) } })

/** A username or email that belongs to another account: 409, naming which. */
export const takenError = (field: 'username' | 'email') => problem(field === 'username' ? 'username_taken' : 'email_taken')

// RFC 6750: the 401 answers of a protected route. No Bearer credentials at all names no error;
// a token we refuse says so; a genuine token whose one fault is its age says it expired, so the
// client refreshes instead of logging in again.
export const missingToken = () =>
  problem('unauthorized', { context: 'Send it as Authorization: Bearer <token>.', headers: { 'WWW-Authenticate': 'Bearer' } })

export const refusedToken = () =>
  problem('unauthorized', {
    context: 'This one is invalid or revoked: log in again.',
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="The access token is invalid"' },
  })

export const expiredToken = () =>
  problem('unauthorized', {
    context: 'This one expired: refresh it with the refresh token.',
    headers: { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="The access token expired"' },
  })
