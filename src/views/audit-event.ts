import type { AuditEventRow } from '../db/schema'

/** An audit event as staff read it: the stored row, its times as ISO strings. */
export const auditEventView = (event: AuditEventRow) => ({
  id: event.id,
  at: event.at.toISOString(),
  action: event.action,
  actor_id: event.actorId,
  target_id: event.targetId,
  ip: event.ip,
  user_agent: event.userAgent,
  details: event.details ?? null,
  org_id: event.orgId,
})
