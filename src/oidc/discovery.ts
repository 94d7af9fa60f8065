import type { Config } from '../config'
import { CLAIMS_SUPPORTED, SCOPES } from './scopes'

/*
 * The OpenID Provider's metadata (OpenID Connect Discovery 1.0 and RFC 8414: one document at both
 * well-known paths), and RFC 9728's description of this worker as a resource. The issuer is
 * PUBLIC_URL exactly as configured; every endpoint hangs off it.
 */

export function providerMetadata(config: Config) {
  const issuer = config.publicUrl
  return {
    issuer,
    authorization_endpoint: `${issuer}/oauth2/authorize`,
    token_endpoint: `${issuer}/oauth2/token`,
    userinfo_endpoint: `${issuer}/oauth2/userinfo`,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    ...(config.oauthDynamicRegistration ? { registration_endpoint: `${issuer}/oauth2/register` } : {}),
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    introspection_endpoint: `${issuer}/oauth2/introspect`,
    end_session_endpoint: `${issuer}/oauth2/end-session`,
    scopes_supported: [...SCOPES],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    // Without an RSA key configured, ID tokens can only be EdDSA: the document says so.
    id_token_signing_alg_values_supported: config.keys.rsaSigning ? ['RS256', 'EdDSA'] : ['EdDSA'],
    subject_types_supported: ['public'],
    authorization_response_iss_parameter_supported: true,
    claims_supported: [...CLAIMS_SUPPORTED],
    acr_values_supported: ['aal1', 'aal2'],
    prompt_values_supported: ['none', 'login', 'consent'],
    resource_indicators_supported: true,
  }
}

/** RFC 9728: this worker as a protected resource, whose tokens this same issuer gives. */
export function resourceMetadata(config: Config) {
  return {
    resource: config.publicUrl,
    authorization_servers: [config.publicUrl],
    jwks_uri: `${config.publicUrl}/.well-known/jwks.json`,
    bearer_methods_supported: ['header'],
    scopes_supported: [...SCOPES],
    resource_documentation: `${config.publicUrl}/api/v1/docs`,
  }
}
