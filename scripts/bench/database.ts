/**
 * A run's local D1: seeded with N users through the real D1 binding before the worker is served,
 * and read back afterwards for the bytes each table's rows take.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { getTableName, is } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/d1'
import { SQLiteTable } from 'drizzle-orm/sqlite-core'
import { getPlatformProxy } from 'wrangler'
import { hashPassword } from '../../src/auth/password.ts'
import type { Config } from '../../src/config/index.ts'
import { promoteToAdminStatements } from '../../src/db/promote.ts'
import * as schema from '../../src/db/schema.ts'
import { users } from '../../src/db/schema.ts'
import { uuidv7 } from '../../src/lib/ids.ts'
import { encodeCursor } from '../../src/schemas/pagination.ts'

/** Every benchmark account's password, ours and the peer's. */
export const BENCH_PASSWORD = 'benchmark-passphrase-of-some-length'
/** PBKDF2 iterations, for the seeded hashes, the served worker and the floor alike. */
export const ITERATIONS = 100_000

/** D1 allows 100 bound parameters per statement; a users row binds 12. */
const ROWS_PER_INSERT = Math.floor(100 / 12)
const INSERTS_PER_BATCH = 50

export const benchUsername = (i: number) => `bench_user_${i}`

function progress(label: string, done: number, total: number) {
  const width = 30
  const filled = Math.round((done / total) * width)
  process.stderr.write(`\r  ${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total}`)
  if (done === total) process.stderr.write('\n')
}

/**
 * Seeds `count` users into the (migrated) local D1 under `persistTo`, makes the first an admin,
 * and returns the cursor of a page 90% of the way into the user table.
 */
export async function seed(persistTo: string, count: number): Promise<string> {
  const proxy = await getPlatformProxy<{ DB: D1Database }>({ persist: { path: join(persistTo, 'v3') }, remoteBindings: false })
  try {
    const db = drizzle(proxy.env.DB)
    // One real hash, made once and shared by every seeded user: seeding measures nothing.
    const passwordHash = await hashPassword(BENCH_PASSWORD, { pbkdf2Iterations: ITERATIONS, pepper: undefined } as Config)
    const start = Date.now() - count
    const rowsAt = (from: number) =>
      Array.from({ length: Math.min(ROWS_PER_INSERT, count - from) }, (_, k) => {
        const i = from + k
        const at = new Date(start + i)
        return {
          id: uuidv7(start + i),
          username: benchUsername(i),
          usernameNormalized: benchUsername(i),
          email: `${benchUsername(i)}@bench.example`,
          // Proved, as an account must be before it adds a way in (the TOTP and passkey pools do).
          emailVerified: true,
          passwordHash,
          createdAt: at,
          updatedAt: at,
        }
      })
    for (let from = 0; from < count; ) {
      const statements = []
      for (let s = 0; s < INSERTS_PER_BATCH && from < count; s++, from += ROWS_PER_INSERT) {
        statements.push(db.insert(users).values(rowsAt(from)))
      }
      await db.batch(statements as [(typeof statements)[number], ...typeof statements])
      progress('seeding users', Math.min(from, count), count)
    }
    await proxy.env.DB.batch(promoteToAdminStatements(benchUsername(0)).map((statement) => proxy.env.DB.prepare(statement)))
    const deep = await proxy.env.DB.prepare('SELECT id FROM users ORDER BY id LIMIT 1 OFFSET ?')
      .bind(Math.floor(count * 0.9))
      .first<{ id: string }>()
    return encodeCursor(deep!.id)
  } finally {
    await proxy.dispose()
  }
}

export type TableStorage = { table: string; rows: number; bytesPerRow: number }

/**
 * The API's tables (not D1's or Drizzle's own), whose size per row the capacity model needs: those
 * the schema declares, so the list follows the migrations.
 */
const APP_TABLES = Object.values(schema)
  .filter((value) => is(value, SQLiteTable))
  .map((table) => getTableName(table))

/**
 * The bytes each table's rows take in the local D1 (a SQLite file), with their indexes, per row:
 * from SQLite's dbstat, which D1 does not offer but the file read directly does.
 */
export function storageByTable(persistTo: string): TableStorage[] {
  const dir = join(persistTo, 'v3', 'd1', 'miniflare-D1DatabaseObject')
  const file = readdirSync(dir).find((name) => name.endsWith('.sqlite') && name !== 'metadata.sqlite')
  if (!file) throw new Error(`no D1 database under ${dir}`)
  const db = new DatabaseSync(join(dir, file), { readOnly: true })
  try {
    const pages = db
      .prepare('SELECT s.tbl_name AS tbl, SUM(d.pgsize) AS bytes FROM dbstat d JOIN sqlite_schema s ON s.name = d.name GROUP BY s.tbl_name')
      .all() as {
      tbl: string
      bytes: number
    }[]
    return APP_TABLES.map((table) => {
      const { rows } = db.prepare(`SELECT COUNT(*) AS rows FROM "${table}"`).get() as { rows: number }
      const bytes = pages.find((page) => page.tbl === table)?.bytes ?? 0
      return { table, rows, bytesPerRow: rows > 0 ? bytes / rows : NaN }
    })
  } finally {
    db.close()
  }
}
