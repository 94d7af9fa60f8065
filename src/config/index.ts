import { deriveHmacKey, importHmacKey, sealingKey } from '../auth/derive'
import type { ProviderSettings } from '../auth/oauth'
import type { Pepper } from '../auth/password'
import { memoize } from '../lib/memo'
import { type ConfigProblem, crossFieldProblems } from './checks'
import { originFitsRpId } from './parsers'
import { SETTINGS, type Settings } from './settings'

export type { ConfigProblem }

/** The parsed settings, and the keys made from them. */
export type Config = Awaited<ReturnType<typeof withDerivedKeys>>

async function withDerivedKeys(settings: Settings) {
  const { pepperSecret, pepperId, secretKey, previousSecretKey, webauthnOrigins, oauthProviders, oauthClientSecrets, ...rest } = settings
  return {
    ...rest,
    /** The configured providers, each with its secret (OAUTH_CLIENT_SECRETS) and display name. */
    providers: oauthProviders.map(
      (provider): ProviderSettings => ({
        ...provider,
        name: provider.name ?? provider.id,
        scopes: provider.scopes ?? (provider.type === 'github' ? ['read:user', 'user:email'] : ['openid', 'email', 'profile']),
        clientSecret: oauthClientSecrets[provider.id] ?? '',
      }),
    ),
    totpIssuer: rest.totpIssuer || rest.productName,
    webauthnRpName: rest.webauthnRpName || rest.productName,
    /** Where mails' links land: the client application, or this worker's own pages. */
    appUrl: rest.appUrl || rest.publicUrl,
    /**
     * Where a passkey ceremony may run: WEBAUTHN_ORIGINS, or the client application's origin and
     * (when it fits the relying party) the hosted pages' own.
     */
    webauthnOrigins:
      webauthnOrigins.length > 0
        ? webauthnOrigins
        : [...new Set([rest.appUrl || rest.publicUrl, ...(originFitsRpId(rest.publicUrl, rest.webauthnRpId) ? [rest.publicUrl] : [])])],
    pepper: pepperSecret ? ({ id: pepperId, key: await importHmacKey(pepperSecret) } satisfies Pepper) : undefined,
    /** Keys the limiter's names for addresses and accounts, so its storage holds nothing reversible. */
    throttleKey: await deriveHmacKey(secretKey, 'edge-users throttle keys'),
    /** Derives a rotated refresh token from the one presented, so a retried refresh gets the same one back. */
    refreshKey: await deriveHmacKey(secretKey, 'edge-users refresh tokens'),
    /** Binds a consent page's form to the browser session that loaded it (oidc/authorize.ts). */
    consentKey: await deriveHmacKey(secretKey, 'edge-users consent forms'),
    /** Seal TOTP secrets at rest (auth/secret-box.ts): the current key first, then the previous one. */
    sealingKeys: await Promise.all(
      [secretKey, ...(previousSecretKey ? [previousSecretKey] : [])].map((secret) => sealingKey(secret, 'edge-users totp secrets')),
    ),
  }
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] }

/** What the configuration is read from: the worker's bindings (vars and secrets). */
export type ConfigSource = object

/** The configuration, parsed (and its keys imported) once per bindings object, so once per isolate. */
export const readConfig: (bindings: ConfigSource) => Promise<ConfigResult> = memoize(parseConfig)

async function parseConfig(bindings: ConfigSource): Promise<ConfigResult> {
  const source = bindings as Record<string, unknown>
  const problems: ConfigProblem[] = []
  const parsed: Record<string, unknown> = {}
  for (const [key, { name, schema }] of Object.entries(SETTINGS)) {
    const result = await schema.safeParseAsync(source[name])
    // Only the name and the rule: a value may be a secret.
    if (result.success) parsed[key] = result.data
    else problems.push({ name, message: result.error.issues[0]?.message ?? 'is invalid' })
  }
  if (problems.length === 0) problems.push(...crossFieldProblems(parsed as Settings))
  if (problems.length > 0) return { ok: false, problems }
  return { ok: true, config: await withDerivedKeys(parsed as Settings) }
}
