import type { OAuthClientRow } from '../db/schema'

/** A client as an admin sees it: everything but its secret (of which only a hash is kept). */
export const oauthClientView = (row: OAuthClientRow) => ({
  client_id: row.id,
  name: row.name,
  type: row.type,
  application_type: row.applicationType,
  redirect_uris: row.redirectUris,
  post_logout_redirect_uris: row.postLogoutRedirectUris,
  grant_types: row.grantTypes,
  skip_consent: row.skipConsent,
  id_token_signed_response_alg: row.idTokenAlg,
  dynamically_registered: row.dynamic,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
})
