import { z } from '@hono/zod-openapi'
import { AUDIT_ACTIONS, type AuditAction } from '../db/audit'
import type { AuditEventRow } from '../db/schema'

export const auditEventSchema = z
  .object({
    id: z.uuid(),
    at: z.iso.datetime(),
    action: z.enum(AUDIT_ACTIONS),
    actor_id: z.string().nullable(),
    target_id: z.string().nullable(),
    ip: z.string().nullable(),
    user_agent: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('AuditEvent')

export function publicAuditEvent(event: AuditEventRow): z.infer<typeof auditEventSchema> {
  return {
    id: event.id,
    at: event.at.toISOString(),
    action: event.action as AuditAction,
    actor_id: event.actorId,
    target_id: event.targetId,
    ip: event.ip,
    user_agent: event.userAgent,
    details: event.details ?? null,
  }
}
