import { sql } from 'drizzle-orm'
import { check, index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'
import { ROLES, type Role } from '../auth/roles'
import type { AuditAction } from './audit-actions'

/** What holds a session: a token pair, or a browser's cookie. */
export const SESSION_HOLDERS = ['api', 'browser'] as const
export type SessionHolder = (typeof SESSION_HOLDERS)[number]

const timestamp = (name: string) => integer(name, { mode: 'timestamp_ms' })

export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(),
    /** As the user typed it, for display. */
    username: text('username').notNull(),
    /** Lower-cased, so uniqueness and look-ups are case-insensitive at the database. */
    usernameNormalized: text('username_normalized').notNull(),
    /** Trimmed and lower-cased before it is stored. */
    email: text('email').notNull(),
    /**
     * An address change waiting for the new address to confirm it (its link); `email` stays as it
     * is until then. Not unique: whoever confirms first gets the address.
     */
    pendingEmail: text('pending_email'),
    /** PBKDF2 (or an imported bcrypt hash until its first login); null for an account with no password. */
    passwordHash: text('password_hash'),
    role: text('role').$type<Role>().notNull().default('user'),
    emailVerified: integer('email_verified', { mode: 'boolean' }).notNull().default(false),
    disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
    createdAt: timestamp('created_at').notNull(),
    updatedAt: timestamp('updated_at').notNull(),
    lastLoginAt: timestamp('last_login_at'),
    /**
     * The last time someone proved who they are on this account (a login, a second step, a
     * re-authentication), no earlier than that attempt's place among the account's attempts: how
     * the limiter learns that a failure streak ended.
     */
    lastAuthAt: timestamp('last_auth_at'),
    /** The account's integer id in the Flask app it was imported from (npm run import:flask). */
    legacyId: integer('legacy_id'),
  },
  (t) => [
    uniqueIndex('users_legacy_id_unique').on(t.legacyId),
    uniqueIndex('users_username_normalized_unique').on(t.usernameNormalized),
    uniqueIndex('users_email_unique').on(t.email),
    // Partial: only the few rows a filter looks for are indexed, so an ordinary signup writes no
    // entry in either. A query uses one only when it repeats the index's condition (db/users.ts).
    index('users_staff_idx').on(t.role, t.id).where(sql`role <> 'user'`),
    index('users_disabled_idx').on(t.id).where(sql`disabled = 1`),
    check('users_role_check', sql.raw(`role IN (${ROLES.map((role) => `'${role}'`).join(', ')})`)),
  ],
)

export const AALS = ['aal1', 'aal2'] as const

export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** SHA-256 of the current refresh token; the token itself is never stored. */
    refreshTokenHash: text('refresh_token_hash').notNull(),
    /**
     * How many times the refresh token was rotated: how far back a presented token of this
     * session can be, so a replayed one is recognised by walking its chain forward (sign-in/refresh.ts).
     */
    rotations: integer('rotations').notNull().default(0),
    userAgent: text('user_agent'),
    createdAt: timestamp('created_at').notNull(),
    lastUsedAt: timestamp('last_used_at').notNull(),
    /** Absolute: rotation does not extend it. */
    expiresAt: timestamp('expires_at').notNull(),
    /** When the session's user last proved who they are: its login, or its latest re-authentication. */
    authTime: timestamp('auth_time').notNull(),
    /** How they proved it, as RFC 8176 method names (`pwd`, `otp`, `hwk`, ..., and `mfa` for two factors). */
    amr: text('amr', { mode: 'json' }).$type<string[]>().notNull(),
    /** The assurance level that proof reached. */
    aal: text('aal', { enum: AALS }).notNull(),
    /**
     * What holds the session: `api`, a token pair (its refresh token hashed above); `browser`, the
     * hosted pages' cookie, whose value is hashed in the same column and is never a refresh token.
     */
    holder: text('holder', { enum: SESSION_HOLDERS }).notNull().default('api'),
    /**
     * The organization the session works in (PUT /users/me/active-organization), for the access
     * token's display claims only: every permission is read from the membership, never from here.
     */
    activeOrgId: text('active_org_id'),
  },
  (t) => [index('sessions_user_id_idx').on(t.userId)],
)

/**
 * A second factor and the sign-in methods besides the password each have a table of their own,
 * so each kind's rules sit on typed columns the database enforces: one authenticator app per
 * account, a passkey's credential id unique across all accounts, one account per provider
 * identity. The password stays on `users` (null when the account has none).
 */

/**
 * An account's authenticator app (TOTP, RFC 6238). Pending until a first code confirms it.
 * `lastStep` is the last accepted time step: a code is accepted only for a later step, written
 * with a conditional update, so a code works once even when two requests race.
 */
export const totpFactors = sqliteTable('totp_factors', {
  userId: text('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  /** The shared secret, encrypted at rest (see auth/totp.ts); never returned after enrolment. */
  secret: text('secret').notNull(),
  createdAt: timestamp('created_at').notNull(),
  confirmedAt: timestamp('confirmed_at'),
  lastStep: integer('last_step').notNull().default(0),
  lastUsedAt: timestamp('last_used_at'),
  /**
   * The sign-in step (its one-time token's id) that spent `lastStep`: a sign-in's batch opens its
   * session only if the step it spent is marked with its own id, so two steps answering the same
   * code in the same millisecond cannot both succeed.
   */
  spentBy: text('spent_by'),
})

/** Single-use recovery codes, stored only as hashes; a new set replaces the old one. */
export const recoveryCodes = sqliteTable(
  'recovery_codes',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash').notNull(),
    createdAt: timestamp('created_at').notNull(),
    usedAt: timestamp('used_at'),
  },
  (t) => [uniqueIndex('recovery_codes_user_code_unique').on(t.userId, t.codeHash)],
)

/** WebAuthn credentials (passkeys). The API names them by `id`; `credentialId` is the authenticator's. */
export const passkeys = sqliteTable(
  'passkeys',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** base64url, as the authenticator gave it. */
    credentialId: text('credential_id').notNull(),
    /** The COSE public key, base64url. */
    publicKey: text('public_key').notNull(),
    counter: integer('counter').notNull().default(0),
    transports: text('transports', { mode: 'json' }).$type<string[]>(),
    backedUp: integer('backed_up', { mode: 'boolean' }).notNull().default(false),
    name: text('name').notNull(),
    createdAt: timestamp('created_at').notNull(),
    lastUsedAt: timestamp('last_used_at'),
    /**
     * The mark of the sign-in that last recorded its counter (a random id of that request): a
     * batch opens its session only if the compare-and-set it ran left its own mark here.
     */
    usedBy: text('used_by'),
  },
  (t) => [uniqueIndex('passkeys_credential_id_unique').on(t.credentialId), index('passkeys_user_id_idx').on(t.userId)],
)

/** Accounts at another provider (OpenID Connect, GitHub) linked to an account here. */
export const identities = sqliteTable(
  'identities',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The configured provider's id (OAUTH_PROVIDERS). */
    provider: text('provider').notNull(),
    /** The provider's stable id for the person (`sub`, or GitHub's numeric id). */
    subject: text('subject').notNull(),
    email: text('email'),
    createdAt: timestamp('created_at').notNull(),
    lastUsedAt: timestamp('last_used_at'),
  },
  (t) => [uniqueIndex('identities_provider_subject_unique').on(t.provider, t.subject), index('identities_user_id_idx').on(t.userId)],
)

/** What a passkey challenge was issued for; an answer is taken only for the same purpose. */
export const PASSKEY_CEREMONIES = ['registration', 'sign_in', 'second_step', 'reauthentication'] as const
export type PasskeyCeremony = (typeof PASSKEY_CEREMONIES)[number]

/**
 * A WebAuthn challenge handed out with a ceremony's options: server-side, single use, 5 minutes.
 * `user_id` is the account it was made for (null for a passwordless sign-in, where the assertion
 * names the account); `bound_to` what else it belongs to (the session of a re-authentication or
 * a registration, the `mfa_token` challenge of a second step).
 */
export const passkeyChallenges = sqliteTable(
  'passkey_challenges',
  {
    id: text('id').primaryKey(),
    /** The challenge bytes, base64url (random, and useless without their own id). */
    challenge: text('challenge').notNull(),
    ceremony: text('ceremony', { enum: PASSKEY_CEREMONIES }).notNull(),
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    boundTo: text('bound_to'),
    createdAt: timestamp('created_at').notNull(),
    expiresAt: timestamp('expires_at').notNull(),
    usedAt: timestamp('used_at'),
  },
  (t) => [index('passkey_challenges_expires_at_idx').on(t.expiresAt)],
)

/**
 * One sign-in (or linking) through another provider, from our authorize redirect to the app's
 * token exchange: strongly consistent (D1), single use at each step, 10 minutes. What the browser
 * and the provider must give back is stored as hashes; the provider's PKCE verifier and nonce are
 * sealed. At the callback the row takes the account it reached and the one-time code for the app.
 */
export const oauthFlows = sqliteTable(
  'oauth_flows',
  {
    id: text('id').primaryKey(),
    provider: text('provider').notNull(),
    purpose: text('purpose', { enum: ['sign_in', 'link'] }).notNull(),
    /** The account a linking flow links to. */
    linkUserId: text('link_user_id').references(() => users.id, { onDelete: 'cascade' }),
    /** The link ticket of a linking flow (hash), until the browser opens it. */
    ticketHash: text('ticket_hash'),
    stateHash: text('state_hash'),
    /** The browser that started it: the hash of its flow cookie. */
    browserHash: text('browser_hash'),
    /** The provider-side PKCE verifier and the nonce, sealed (auth/secret-box.ts). */
    secrets: text('secrets'),
    redirectUri: text('redirect_uri').notNull(),
    /** The app's own PKCE challenge (S256) for the token exchange. */
    codeChallenge: text('code_challenge'),
    createdAt: timestamp('created_at').notNull(),
    expiresAt: timestamp('expires_at').notNull(),
    /** When the provider's answer came back (the state is spent). */
    calledBackAt: timestamp('called_back_at'),
    /** The account the callback reached, and the app's one-time code (hash) for it. */
    userId: text('user_id').references(() => users.id, { onDelete: 'cascade' }),
    codeHash: text('code_hash'),
    codeExpiresAt: timestamp('code_expires_at'),
    exchangedAt: timestamp('exchanged_at'),
    /**
     * A linking flow's checked provider identity (ProviderProfile as JSON), held from the callback
     * until the account that started the link completes it with its link code.
     */
    profile: text('profile', { mode: 'json' }).$type<Record<string, unknown>>(),
  },
  (t) => [
    uniqueIndex('oauth_flows_state_hash_unique').on(t.stateHash),
    uniqueIndex('oauth_flows_code_hash_unique').on(t.codeHash),
    uniqueIndex('oauth_flows_ticket_hash_unique').on(t.ticketHash),
    index('oauth_flows_expires_at_idx').on(t.expiresAt),
  ],
)

/**
 * Append-only record of who did what. No foreign keys: an event outlives the users it names.
 * `details` is small JSON and never holds a password, a token or a hash.
 */
export const auditEvents = sqliteTable(
  'audit_events',
  {
    id: text('id').primaryKey(),
    at: timestamp('at').notNull(),
    action: text('action').$type<AuditAction>().notNull(),
    actorId: text('actor_id'),
    targetId: text('target_id'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    details: text('details', { mode: 'json' }).$type<Record<string, unknown>>(),
    /** The organization an organization's event belongs to: its own audit view reads by it. */
    orgId: text('org_id'),
  },
  (t) => [
    index('audit_events_actor_idx').on(t.actorId, t.id),
    index('audit_events_target_idx').on(t.targetId, t.id),
    index('audit_events_action_idx').on(t.action, t.id),
    index('audit_events_org_idx').on(t.orgId, t.id),
  ],
)

export const MAIL_TOKEN_PURPOSES = ['password_reset', 'email_verification', 'email_change', 'email_revert'] as const
export type MailTokenPurpose = (typeof MAIL_TOKEN_PURPOSES)[number]
/** Every one-time secret's purpose: the mailed links', and the sign-in step's (`mfa`). */
export const ONE_TIME_TOKEN_PURPOSES = [...MAIL_TOKEN_PURPOSES, 'mfa'] as const
export type OneTimeTokenPurpose = (typeof ONE_TIME_TOKEN_PURPOSES)[number]

/**
 * The one store of single-use secrets handed to a person: mailed links and the sign-in step's
 * `mfa_token`, each stored only as SHA-256, bound, expiring, spent by one conditional write. The
 * SQL table keeps the name of its first use (`mail_tokens`); migration 0014 moved the sign-in
 * steps in from their own table. Passkey challenges and provider flows keep tables of their own:
 * a challenge is handed out in the clear to be signed, and a flow carries a browser binding, sealed
 * secrets and a provider's answer, none of which a hashed token has.
 *
 * `boundTo` is what the token is bound to: for a reset, a fingerprint of the password hash it
 * replaces and the address it went to; for a verification, the address it was sent to; for an
 * address change, the pending address it confirms; for a revert, the old address it puts back; for
 * a sign-in step, the fingerprint of the password (and address) its first proof was checked
 * against. A token whose binding no longer matches the account is dead (a revert's never does: it
 * undoes that change and every later one). A sign-in step also has `firstFactor` (the kind of proof
 * already given) and `attemptsLeft` (wrong answers it may still take).
 */
export const oneTimeTokens = sqliteTable(
  'mail_tokens',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    purpose: text('purpose').$type<OneTimeTokenPurpose>().notNull(),
    tokenHash: text('token_hash').notNull(),
    boundTo: text('bound_to').notNull(),
    /** A sign-in step's first proof (auth/assurance.ts ProofKind); null for a mailed link. */
    firstFactor: text('first_factor'),
    /** How many wrong answers a sign-in step may still take; null for a mailed link (one use). */
    attemptsLeft: integer('attempts_left'),
    createdAt: timestamp('created_at').notNull(),
    expiresAt: timestamp('expires_at').notNull(),
    usedAt: timestamp('used_at'),
  },
  (t) => [
    uniqueIndex('mail_tokens_token_hash_unique').on(t.tokenHash),
    index('mail_tokens_user_purpose_idx').on(t.userId, t.purpose),
    // Sign-up and address changes ask whether a revert link still holds an address.
    index('mail_tokens_revert_address_idx').on(t.boundTo).where(sql`purpose = 'email_revert'`),
  ],
)

export const MAIL_JOB_STATUSES = ['pending', 'sent', 'skipped', 'dead'] as const
export type MailJobStatus = (typeof MAIL_JOB_STATUSES)[number]

/**
 * One row per queued mail job, keyed by the id the request gave it, so a message delivered twice
 * sends one mail. `addressKey` (a hash of the recipient, never the address) counts the mails an
 * address got in the last hour.
 */
export const mailJobs = sqliteTable(
  'mail_jobs',
  {
    id: text('id').primaryKey(),
    kind: text('kind').notNull(),
    status: text('status').$type<MailJobStatus>().notNull(),
    addressKey: text('address_key'),
    claimedUntil: timestamp('claimed_until'),
    createdAt: timestamp('created_at').notNull(),
    sentAt: timestamp('sent_at'),
  },
  (t) => [index('mail_jobs_address_sent_idx').on(t.addressKey, t.sentAt)],
)

export type UserRow = typeof users.$inferSelect
export type SessionRow = typeof sessions.$inferSelect
export type TotpFactorRow = typeof totpFactors.$inferSelect
export type PasskeyRow = typeof passkeys.$inferSelect
export type IdentityRow = typeof identities.$inferSelect
export type OneTimeTokenRow = typeof oneTimeTokens.$inferSelect
export type OauthFlowRow = typeof oauthFlows.$inferSelect
export type PasskeyChallengeRow = typeof passkeyChallenges.$inferSelect
export type AuditEventRow = typeof auditEvents.$inferSelect

/**
 * An application that signs its users in with this worker as its OpenID Provider. Its secret
 * (confidential clients only) is 256 random bits, so a SHA-256 is enough to keep; the secret
 * itself is shown once. Redirect URIs are matched exactly (a native client's loopback ones on any
 * port), so they are stored as registered.
 */
export const oauthClients = sqliteTable('oauth_clients', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  type: text('type', { enum: ['confidential', 'public'] }).notNull(),
  applicationType: text('application_type', { enum: ['web', 'native'] }).notNull(),
  secretHash: text('secret_hash'),
  redirectUris: text('redirect_uris', { mode: 'json' }).$type<string[]>().notNull(),
  postLogoutRedirectUris: text('post_logout_redirect_uris', { mode: 'json' }).$type<string[]>().notNull(),
  grantTypes: text('grant_types', { mode: 'json' }).$type<OAuthGrantType[]>().notNull(),
  skipConsent: integer('skip_consent', { mode: 'boolean' }).notNull().default(false),
  /** Registered through dynamic registration (RFC 7591), which never gets skip_consent. */
  dynamic: integer('dynamic', { mode: 'boolean' }).notNull().default(false),
  /** What signs the client's ID tokens: RS256 (what every relying party accepts) unless it registered EdDSA. */
  idTokenAlg: text('id_token_signed_response_alg', { enum: ['RS256', 'EdDSA'] })
    .notNull()
    .default('RS256'),
  createdAt: timestamp('created_at').notNull(),
  updatedAt: timestamp('updated_at').notNull(),
})

export const OAUTH_GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const
export type OAuthGrantType = (typeof OAUTH_GRANT_TYPES)[number]
export type OAuthClientRow = typeof oauthClients.$inferSelect

/**
 * A person's consent to a client: the scopes they allowed it, remembered so the next sign-in
 * through the same client asks again only for new scopes. Revoking it (GET/DELETE
 * /users/me/grants) also ends every grant of that person to that client.
 */
export const oauthConsents = sqliteTable(
  'oauth_consents',
  {
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientId: text('client_id')
      .notNull()
      .references(() => oauthClients.id, { onDelete: 'cascade' }),
    scopes: text('scopes', { mode: 'json' }).$type<string[]>().notNull(),
    createdAt: timestamp('created_at').notNull(),
    updatedAt: timestamp('updated_at').notNull(),
  },
  (t) => [uniqueIndex('oauth_consents_user_client_unique').on(t.userId, t.clientId), index('oauth_consents_client_idx').on(t.clientId)],
)

/**
 * One authorization of a client by a person: born with its code (hashed, 60 s, single use), it
 * becomes the grant family its refresh tokens rotate through (the same chain as a session's:
 * auth/opaque-tokens.ts), and its access tokens name it (`grant_id`), so ending the row ends
 * them at userinfo and introspection. A code presented twice deletes the row: what the first use
 * issued dies with it. Unless `offline_access` was granted, the grant lives only as long as the
 * browser session it was given in (`sessionId`).
 */
export const oauthGrants = sqliteTable(
  'oauth_grants',
  {
    id: text('id').primaryKey(),
    clientId: text('client_id')
      .notNull()
      .references(() => oauthClients.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The browser session the person authorized in: the ID token's `sid`. */
    sessionId: text('session_id').notNull(),
    scopes: text('scopes', { mode: 'json' }).$type<string[]>().notNull(),
    /** The resources (RFC 8707) asked for at authorization: a token may name any one of them, never another. */
    resources: text('resources', { mode: 'json' }).$type<string[]>().notNull(),
    /** Outlives the browser session (the `offline_access` scope was granted). */
    offline: integer('offline', { mode: 'boolean' }).notNull(),
    nonce: text('nonce'),
    redirectUri: text('redirect_uri').notNull(),
    codeChallenge: text('code_challenge').notNull(),
    codeHash: text('code_hash').notNull(),
    codeExpiresAt: timestamp('code_expires_at').notNull(),
    codeUsedAt: timestamp('code_used_at'),
    /** SHA-256 of the current refresh token; null until the code is exchanged, or for a client without the grant. */
    refreshTokenHash: text('refresh_token_hash'),
    rotations: integer('rotations').notNull().default(0),
    authTime: timestamp('auth_time').notNull(),
    amr: text('amr', { mode: 'json' }).$type<string[]>().notNull(),
    aal: text('aal', { enum: AALS }).notNull(),
    createdAt: timestamp('created_at').notNull(),
    /** The code's exchange, then every refresh: the rotation time the reuse grace window counts from. */
    lastUsedAt: timestamp('last_used_at').notNull(),
    /** Absolute, like a session's: rotation does not extend it. */
    expiresAt: timestamp('expires_at').notNull(),
  },
  (t) => [
    uniqueIndex('oauth_grants_code_hash_unique').on(t.codeHash),
    index('oauth_grants_user_client_idx').on(t.userId, t.clientId),
    index('oauth_grants_client_idx').on(t.clientId),
    index('oauth_grants_expires_idx').on(t.expiresAt),
  ],
)

export type OAuthGrantRow = typeof oauthGrants.$inferSelect
export type OAuthConsentRow = typeof oauthConsents.$inferSelect

/** A customer's organization (a tenant): its slug is unique, lower-case, and may change. */
export const organizations = sqliteTable(
  'organizations',
  {
    id: text('id').primaryKey(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    createdAt: timestamp('created_at').notNull(),
    updatedAt: timestamp('updated_at').notNull(),
  },
  (t) => [uniqueIndex('organizations_slug_unique').on(t.slug)],
)

/** A member of an organization, with one or more roles (built-in or the organization's own). */
export const orgMembers = sqliteTable(
  'org_members',
  {
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    roles: text('roles', { mode: 'json' }).$type<string[]>().notNull(),
    joinedAt: timestamp('joined_at').notNull(),
  },
  (t) => [uniqueIndex('org_members_org_user_unique').on(t.orgId, t.userId), index('org_members_user_idx').on(t.userId)],
)

/** A role an organization defines for itself: a name and its `resource:action` permissions. */
export const orgRoles = sqliteTable(
  'org_roles',
  {
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    permissions: text('permissions', { mode: 'json' }).$type<string[]>().notNull(),
    createdAt: timestamp('created_at').notNull(),
    updatedAt: timestamp('updated_at').notNull(),
  },
  (t) => [uniqueIndex('org_roles_org_name_unique').on(t.orgId, t.name)],
)

/**
 * An invitation to an organization, for one address and some roles. Its token (256 random bits)
 * is kept as a SHA-256; it works once, until it expires, is revoked, or its organization goes.
 */
export const orgInvitations = sqliteTable(
  'org_invitations',
  {
    id: text('id').primaryKey(),
    orgId: text('org_id')
      .notNull()
      .references(() => organizations.id, { onDelete: 'cascade' }),
    /** Lower-cased: it is compared with the accepting account's verified address. */
    email: text('email').notNull(),
    roles: text('roles', { mode: 'json' }).$type<string[]>().notNull(),
    tokenHash: text('token_hash').notNull(),
    invitedBy: text('invited_by'),
    createdAt: timestamp('created_at').notNull(),
    expiresAt: timestamp('expires_at').notNull(),
    acceptedAt: timestamp('accepted_at'),
  },
  (t) => [uniqueIndex('org_invitations_token_hash_unique').on(t.tokenHash), index('org_invitations_org_idx').on(t.orgId)],
)

export type OrganizationRow = typeof organizations.$inferSelect
export type OrgMemberRow = typeof orgMembers.$inferSelect
export type OrgRoleRow = typeof orgRoles.$inferSelect
export type OrgInvitationRow = typeof orgInvitations.$inferSelect
