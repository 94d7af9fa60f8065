import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { listAuditEvents, rolesOf } from '../db/audit'
import { findTotpFactor, secondFactorsOf } from '../db/factors'
import { listIdentities } from '../db/identities'
import { listPasskeys } from '../db/passkeys'
import type { AuditEventRow } from '../db/schema'
import { listAllSessions } from '../db/sessions'
import { createRouter } from '../http/router'
import { signedIn } from '../http/signed-in'
import { requireAuth } from '../middleware/require-auth'
import { bearerAuth } from '../schemas/openapi'
import { problems } from '../schemas/problem'
import { requireRecentProof } from '../sign-in/recent-proof'
import { auditEventView } from '../views/audit-event'
import { identityView } from '../views/identity'
import { passkeyView } from '../views/passkey'
import { sessionWithAssuranceView } from '../views/session'
import { totpView } from '../views/totp'
import { staffUserView } from '../views/user'

const _unauthorized = problems({ 401: ['unauthorized'] })

/**
 * An event as the user's export shows it. One the user caused is shown whole; one someone else
 * (or no one signed in) caused shows that person's role at most: never their id, address or user
 * agent, which are theirs, not the user's.
 */
function exportedEvent(event: AuditEventRow, userId: string, roles: Map<string, string>) {
  const shown = auditEventView(event)
  if (event.actorId === userId) return shown
  return {
    ...shown,
    actor_id: null,
    actor_role: event.actorId ? (roles.get(event.actorId) ?? 'deleted account') : null,
    ip: null,
    user_agent: null,
  }
}

/** Audit events are read this many at a time while the export streams, whatever the history's length. */
const EXPORT_PAGE = 200

const exportRoute = createRoute({
  method: 'get',
  path: '/',
  operationId: 'exportMyData',
  tags: ['me'],
  summary: 'Download everything held about you',
  description:
    'A sensitive action (a recent proof on this session). A JSON attachment: the profile, every session (never a token or its hash), the second factors, passkeys and linked identities (no secrets), and every audit event that names you as actor or target, newest first. An event someone else caused shows only their role (`actor_role`): never their id, address or user agent. Streamed, so a long history is never held in memory whole.',
  security: bearerAuth,
  responses: {
    200: {
      description: 'The export, as a download (Content-Disposition: attachment)',
      content: { 'application/json': { schema: z.object({}).passthrough().openapi('PersonalDataExport') } },
    },
    ...problems({ 401: ['unauthorized'], 403: ['reauthentication_required'] }),
  },
})

const exportMyData: RouteHandler<typeof exportRoute, AppEnv> = async (c) => {
  const { db, user } = c.var
  await requireRecentProof(c.var.signIn, signedIn(c))
  const [sessions, factors, totp, passkeys, identities] = await Promise.all([
    listAllSessions(db, user.id),
    secondFactorsOf(db, user.id),
    findTotpFactor(db, user.id),
    listPasskeys(db, user.id),
    listIdentities(db, user.id),
  ])
  const encoder = new TextEncoder()
  const head = {
    exported_at: new Date().toISOString(),
    user: staffUserView(user),
    sessions: sessions.map(sessionWithAssuranceView),
    second_factors: {
      totp: totpView(totp),
      recovery_codes_left: factors.recoveryCodesLeft,
    },
    // What each is, never its key material: no public key, credential id, counter or subject.
    passkeys: passkeys.map(passkeyView),
    identities: identities.map(identityView),
  }
  let before: string | undefined
  let first = true
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // The object is written by hand around its last member, so the events can follow page by page.
      controller.enqueue(encoder.encode(`${JSON.stringify(head).slice(0, -1)},"audit_events":[`))
    },
    async pull(controller) {
      const page = await listAuditEvents(db, { limit: EXPORT_PAGE, before, userId: user.id })
      const others = [...new Set(page.map((event) => event.actorId).filter((id): id is string => id !== null && id !== user.id))]
      const roles = others.length > 0 ? await rolesOf(db, others) : new Map<string, string>()
      for (const event of page) {
        controller.enqueue(encoder.encode(`${first ? '' : ','}${JSON.stringify(exportedEvent(event, user.id, roles))}`))
        first = false
      }
      before = page.at(-1)?.id
      if (page.length < EXPORT_PAGE) {
        controller.enqueue(encoder.encode(']}'))
        controller.close()
      }
    },
  })
  const filename = `edge-users-export-${user.username}.json`
  // A stream, which the typed c.json() cannot carry; its shape is the one written above.
  return c.body(body, 200, {
    'Content-Type': 'application/json',
    'Content-Disposition': `attachment; filename="${filename}"`,
  }) as never
}

const authenticated = createRouter()
authenticated.use(requireAuth())

/** The signed-in user's personal data. Mounted at /api/v1/users/me/export. */
export const exportRoutes = authenticated.openapi(exportRoute, exportMyData)
