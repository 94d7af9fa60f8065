import type { TotpFactorRow } from '../db/schema'

/** The active authenticator app as its owner sees it (never its secret), or null: a pending one is not shown. */
export const totpView = (factor: TotpFactorRow | undefined) =>
  factor?.confirmedAt
    ? { enabled: true as const, created_at: factor.confirmedAt.toISOString(), last_used_at: factor.lastUsedAt?.toISOString() ?? null }
    : null
