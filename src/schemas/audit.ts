import { z } from '@hono/zod-openapi'
import { AUDIT_ACTIONS } from '../db/audit'

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
    org_id: z.string().nullable().openapi({ description: "An organization's event: the organization" }),
  })
  .openapi('AuditEvent')
