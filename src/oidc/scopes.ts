/** The scopes the OpenID Provider grants, and what each lets a client know, in the words the consent page uses. */
export const SCOPES = ['openid', 'profile', 'email', 'offline_access', 'organization'] as const
export type Scope = (typeof SCOPES)[number]

export const SCOPE_WORDS: Record<Scope, string> = {
  openid: 'Know who you are (your account id)',
  profile: 'See your username',
  email: 'See your email address and whether it is verified',
  offline_access: 'Stay signed in to it after you sign out here',
  organization: 'See which organization you are working in and your role there',
}

/** The claims each scope adds to an ID token and userinfo (OIDC Core §5.4). */
export const CLAIMS_SUPPORTED = [
  'sub',
  'iss',
  'aud',
  'exp',
  'iat',
  'auth_time',
  'nonce',
  'acr',
  'amr',
  'sid',
  'email',
  'email_verified',
  'preferred_username',
  'org_id',
  'org_slug',
  'org_role',
  'org_roles',
] as const

/** Every scope of `asked` is among `allowed`. */
export const coveredBy = (asked: readonly string[], allowed: readonly string[]) => asked.every((scope) => allowed.includes(scope))
