type Level = 'info' | 'warn' | 'error'

/**
 * One JSON object per line, so Workers Logs can filter on fields. Callers pass only safe values:
 * never a password, a token, a hash, SQL text or a database error message (it embeds bound values).
 */
export function log(level: Level, event: string, fields: Record<string, unknown> = {}) {
  const line = JSON.stringify({ level, event, ...fields })
  if (level === 'error') console.error(line)
  else if (level === 'warn') console.warn(line)
  else console.log(line)
}
