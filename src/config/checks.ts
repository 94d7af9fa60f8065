import { originFitsRpId } from './parsers'
import type { Settings } from './settings'

/** A problem with one variable, named as what to fix; never its value. */
export type ConfigProblem = { name: string; message: string }

/** What no single setting's parser can see: settings that must agree with each other. */
export function crossFieldProblems(settings: Settings): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const ids = settings.oauthProviders.map((provider) => provider.id)
  if (new Set(ids).size !== ids.length) problems.push({ name: 'OAUTH_PROVIDERS', message: 'two providers have one id' })
  const missing = ids.filter((id) => !settings.oauthClientSecrets[id])
  if (missing.length > 0) problems.push({ name: 'OAUTH_CLIENT_SECRETS', message: `has no secret for ${missing.join(', ')}` })
  const ceremonyOrigins = settings.webauthnOrigins.length > 0 ? settings.webauthnOrigins : [settings.appUrl || settings.publicUrl]
  const misfit = ceremonyOrigins.find((candidate) => !originFitsRpId(candidate, settings.webauthnRpId))
  // Named as what to fix: the origins when they were set, else the RP ID APP_URL must fit.
  if (misfit !== undefined)
    problems.push(
      settings.webauthnOrigins.length > 0
        ? { name: 'WEBAUTHN_ORIGINS', message: 'every origin must be https (or http://localhost) on WEBAUTHN_RP_ID or a subdomain of it' }
        : {
            name: 'WEBAUTHN_RP_ID',
            message: "must be APP_URL's host (PUBLIC_URL's when APP_URL is empty) or a parent domain of it (or set WEBAUTHN_ORIGINS)",
          },
    )
  return problems
}
