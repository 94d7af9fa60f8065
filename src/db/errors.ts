/**
 * The column a UNIQUE constraint failure names, found in the error's cause chain. Only the
 * constraint's column is read: the message also embeds bound values, so it is never logged.
 */
export function violatedUniqueColumn(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    const match = /UNIQUE constraint failed: ([\w.]+)/.exec(current.message)
    if (match) return match[1]
  }
  return undefined
}
