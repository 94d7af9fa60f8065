import { codeChallengeOf } from '../../auth/oauth'
import { hashOpaqueToken } from '../../auth/opaque-tokens'
import type { ProviderProfile } from '../../db/identities'
import { takeFlowCode } from '../../db/oauth-flows'
import { proofSignIn } from '../../db/users'
import type { CheckedProof, ProofContext } from './types'

/**
 * The app's exchange of a provider sign-in's one-time code: the code is spent by its first use,
 * and counts only with the verifier of the PKCE challenge the app sent at authorize (S256). The
 * provider's own answer was checked at the callback (sign-in/provider.ts); this proves the one
 * who exchanges is the app that started the flow. Returns the account it reached, or undefined.
 */
export async function checkProviderCode(context: ProofContext, code: string, codeVerifier: string) {
  const { db, now } = context
  const flow = await takeFlowCode(db, { codeHash: await hashOpaqueToken(code), purpose: 'sign_in', now })
  if (!flow?.userId || !flow.codeChallenge) return undefined
  if ((await codeChallengeOf(codeVerifier)) !== flow.codeChallenge) return undefined
  const checked: CheckedProof = { kind: 'provider', write: proofSignIn(db, { userId: flow.userId, now, login: true }) }
  return { userId: flow.userId, provider: flow.provider, checked }
}

/**
 * A link code's completion: the code is spent by its first use, and counts only for the account
 * that started the link, for the provider it names, with the verifier of the PKCE challenge sent
 * when the link was started. So a link URL opened in someone else's browser (login CSRF) hands
 * their provider identity to nobody: the code comes back to a browser, but only the starter's
 * bearer token and verifier turn it into a link. Returns the provider identity, or undefined.
 */
export async function checkLinkCode(
  context: ProofContext,
  input: { userId: string; provider: string; code: string; codeVerifier: string },
): Promise<ProviderProfile | undefined> {
  const flow = await takeFlowCode(context.db, { codeHash: await hashOpaqueToken(input.code), purpose: 'link', now: context.now })
  if (!flow || flow.linkUserId !== input.userId || flow.provider !== input.provider || !flow.codeChallenge || !flow.profile)
    return undefined
  if ((await codeChallengeOf(input.codeVerifier)) !== flow.codeChallenge) return undefined
  return flow.profile as ProviderProfile
}
