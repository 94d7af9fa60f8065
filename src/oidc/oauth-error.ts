/** The token endpoint's errors (RFC 6749 §5.2, RFC 8707 §2), answered in OAuth's own format. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'

/** A refusal of the OpenID Provider's endpoints: `{error, error_description}`, never problem details. */
export class OAuthError extends Error {
  readonly status: 400 | 401
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    /** A client that authenticated with HTTP Basic is told which scheme to use again (RFC 6749 §5.2). */
    readonly basicChallenge = false,
  ) {
    super(description)
    this.name = 'OAuthError'
    this.status = code === 'invalid_client' ? 401 : 400
  }
}
