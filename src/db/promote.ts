import { uuidv7 } from '../lib/ids'
import { normaliseLoginIdentifier } from './users'

/** A SQL string literal; wrangler's --command takes no bound parameters. */
function quote(value: string): string {
  if ([...value].some((char) => char.charCodeAt(0) < 0x20)) throw new Error('the identifier holds a control character')
  return `'${value.replace(/'/g, "''")}'`
}

/**
 * The statements `npm run admin:promote` runs through `wrangler d1 execute`, and the tests run
 * through D1: audit the change (only if there is one), then make the user an admin. The last
 * statement returns the promoted user, or no row when no account has that username or email.
 */
export function promoteToAdminStatements(identifier: string, now = new Date()): string[] {
  const { kind, value } = normaliseLoginIdentifier(identifier)
  const match = `${kind === 'email' ? 'email' : 'username_normalized'} = ${quote(value)}`
  return [
    `INSERT INTO audit_events (id, at, action, actor_id, target_id, ip, user_agent, details)
     SELECT ${quote(uuidv7(now.getTime()))}, ${now.getTime()}, 'admin.role_changed', NULL, id, NULL, 'npm run admin:promote',
            json_object('from', role, 'to', 'admin', 'via', 'cli')
     FROM users WHERE ${match} AND role <> 'admin'`,
    `UPDATE users SET role = 'admin', updated_at = ${now.getTime()} WHERE ${match} RETURNING id, username, email, role, disabled`,
  ]
}
