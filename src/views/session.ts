import type { SessionRow } from '../db/schema'

/** A session as its owner sees it: when it began and was last used, when it ends, and where from. */
export const sessionView = (session: SessionRow) => ({
  id: session.id,
  created_at: session.createdAt.toISOString(),
  last_used_at: session.lastUsedAt.toISOString(),
  expires_at: session.expiresAt.toISOString(),
  user_agent: session.userAgent,
})

/** A session with how it was earned (`auth_time`, `amr`, `aal`), as the personal-data export shows it. */
export const sessionWithAssuranceView = (session: SessionRow) => ({
  ...sessionView(session),
  auth_time: session.authTime.toISOString(),
  amr: session.amr,
  aal: session.aal,
})
