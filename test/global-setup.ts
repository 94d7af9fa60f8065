/**
 * Runs in Node before the test files: a real OpenID provider (scripts/lib/identity-provider.ts)
 * for test/providers.test.ts, its issuer handed to the tests with `inject('idpIssuer')`.
 */
import type { TestProject } from 'vitest/node'
import { startGitHubStandIn, startIdentityProvider } from '../scripts/lib/identity-provider.ts'

/** The providers the tests configure, each with its callback on the tests' origin. */
export const TEST_PROVIDER_IDS = ['idp', 'idp-es', 'idp-bad'] as const

export default async function setup(project: TestProject) {
  const idp = await startIdentityProvider(TEST_PROVIDER_IDS.map((id) => `https://edge-users.test/api/v1/oauth/${id}/callback`))
  const github = await startGitHubStandIn()
  project.provide('idpIssuer', idp.issuer)
  project.provide('githubBase', github.issuer)
  return async () => {
    await Promise.all([idp.stop(), github.stop()])
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    idpIssuer: string
    githubBase: string
  }
}
