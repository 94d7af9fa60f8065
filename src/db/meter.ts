/**
 * What a request's queries cost in D1's own terms: the `meta` D1 returns with each result (rows
 * read, rows written, duration), added up. D1 bills rows read and rows written, so this is what one
 * request costs the database. A diagnostic, off by default (REPORT_D1_USAGE): the benchmark turns
 * it on for a separate pass to print rows per request, never for the timed runs.
 *
 * D1 answers `raw()` (how Drizzle reads rows) without its meta, and a join's rows cannot be
 * rebuilt from `all()` when two tables share a column name. So for a read through `raw()` the
 * meter asks D1 the same read-only statement once more with `all()` and counts that one answer; a
 * write through `raw()` (INSERT/UPDATE/DELETE … RETURNING, whose columns come from one table) runs
 * once, through `all()`.
 */

export type D1Usage = { queries: number; rowsRead: number; rowsWritten: number; durationMs: number }

const READ_ONLY = /^\s*(?:select|with)\b/i

function record(usage: D1Usage, meta: D1Meta) {
  usage.queries += 1
  usage.rowsRead += meta.rows_read
  usage.rowsWritten += meta.rows_written
  usage.durationMs += meta.duration
}

class MeteredStatement implements D1PreparedStatement {
  constructor(
    readonly inner: D1PreparedStatement,
    private readonly sql: string,
    private readonly usage: D1Usage,
  ) {}

  bind(...values: unknown[]): D1PreparedStatement {
    return new MeteredStatement(this.inner.bind(...values), this.sql, this.usage)
  }

  async run<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    const result = await this.inner.run<T>()
    record(this.usage, result.meta)
    return result
  }

  async all<T = Record<string, unknown>>(): Promise<D1Result<T>> {
    const result = await this.inner.all<T>()
    record(this.usage, result.meta)
    return result
  }

  first<T = unknown>(colName: string): Promise<T | null>
  first<T = Record<string, unknown>>(): Promise<T | null>
  async first<T>(colName?: string): Promise<T | null> {
    const [row] = (await this.all<Record<string, unknown>>()).results
    if (row === undefined) return null
    return (colName === undefined ? row : row[colName]) as T
  }

  raw<T = unknown[]>(options: { columnNames: true }): Promise<[string[], ...T[]]>
  raw<T = unknown[]>(options?: { columnNames?: false }): Promise<T[]>
  async raw<T = unknown[]>(options?: { columnNames?: boolean }): Promise<T[] | [string[], ...T[]]> {
    if (READ_ONLY.test(this.sql)) {
      const rows = await this.inner.raw<T>(options as { columnNames?: false })
      record(this.usage, (await this.inner.all()).meta)
      return rows
    }
    const { results, meta } = await this.inner.all<Record<string, unknown>>()
    record(this.usage, meta)
    const rows = results.map((row) => Object.values(row) as T)
    return options?.columnNames ? [Object.keys(results[0] ?? {}), ...rows] : rows
  }
}

/** The session, with every statement's meta added to `usage`. */
export function meteredSession(session: D1DatabaseSession): { session: D1DatabaseSession; usage: D1Usage } {
  const usage: D1Usage = { queries: 0, rowsRead: 0, rowsWritten: 0, durationMs: 0 }
  const metered: D1DatabaseSession = {
    prepare: (sql) => new MeteredStatement(session.prepare(sql), sql, usage),
    batch: async <T>(statements: D1PreparedStatement[]) => {
      const inner = statements.map((statement) => (statement instanceof MeteredStatement ? statement.inner : statement))
      const results = await session.batch<T>(inner)
      for (const result of results) record(usage, result.meta)
      return results
    },
    getBookmark: () => session.getBookmark(),
  }
  return { session: metered, usage }
}

/** The usage as a response header's value: `queries=3; rows_read=4; rows_written=2; duration_ms=0.31`. */
export const usageHeader = (usage: D1Usage) =>
  `queries=${usage.queries}; rows_read=${usage.rowsRead}; rows_written=${usage.rowsWritten}; duration_ms=${usage.durationMs.toFixed(2)}`
