/**
 * The steps of `npm run import:flask`, each a function so the import check can drive one alone:
 * read the Flask app's SQLite file, plan what each row becomes against what the target database
 * holds, write the accepted users, and record the import.
 *
 * A row ends as one of three: imported (written by this run); skipped, because the database already
 * held a conflicting row (its Flask id imported before, found while planning, or any row that
 * `ON CONFLICT DO NOTHING` dropped when written: a username, email or Flask id taken after the
 * plan was made); or refused, because it breaks a rule. A written row counts as imported only when
 * the database shows it afterwards.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { normaliseEmail, normaliseUsername } from '../../src/db/users.ts'
import { uuidv7 } from '../../src/lib/ids.ts'
import { emailField, usernameField } from '../../src/schemas/fields.ts'
import { capture, quietEnv, run } from './run.ts'

/** Rows per INSERT statement and per `wrangler d1 execute` call. */
const ROWS_PER_STATEMENT = 100
const ROWS_PER_CALL = 5000
/** Any bcrypt cost bcrypt allows (4-31) parses; BCRYPT_MAX_COST decides which are usable. */
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/
export const DEFAULT_BCRYPT_MAX_COST = 12

/** Where wrangler writes: `--local` or `--remote`, run from `cwd` (the project whose wrangler.toml names the database). */
export type Target = { where: '--local' | '--remote'; cwd?: string }

/** A row of the Flask table as SQLite holds it: nothing in it is trusted yet. */
export type FlaskRow = { id: unknown; username: unknown; email: unknown; encrypted_password: unknown }

export type NewUser = { legacyId: number; username: string; email: string; hash: string; bcryptCost: number }

export type Plan = {
  rows: number
  accepted: NewUser[]
  /** Rows whose Flask id is already in `users.legacy_id`. */
  importedBefore: number
  refused: { row: string; rule: string }[]
}

export class ImportError extends Error {}

/** BCRYPT_MAX_COST as wrangler.toml sets it (unset: the contract's default). */
export function parseBcryptMaxCost(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_BCRYPT_MAX_COST
  const cost = /^\d{1,2}$/.test(raw.trim()) ? Number(raw) : Number.NaN
  if (!(cost >= 4 && cost <= 15)) throw new ImportError(`BCRYPT_MAX_COST in wrangler.toml must be an integer from 4 to 15, not "${raw}"`)
  return cost
}

/** The rows of the Flask app's `user` table. Integers are read as bigints, so an id past 2^53 is seen as it is, not rounded. */
export function readFlaskUsers(path: string): FlaskRow[] {
  let sqlite: DatabaseSync
  try {
    sqlite = new DatabaseSync(path, { readOnly: true })
  } catch (error) {
    throw new ImportError(`cannot open ${path} as an SQLite database: ${(error as Error).message}`)
  }
  try {
    const columns = sqlite.prepare("SELECT name FROM pragma_table_info('user')").all() as { name: string }[]
    for (const needed of ['id', 'username', 'email', 'encrypted_password']) {
      if (!columns.some((column) => column.name === needed)) {
        throw new ImportError(`${path} has no table "user" with a column "${needed}": is it the Flask app's database?`)
      }
    }
    // In the order the rows were written (for the Flask table, rowid is its id), so "an earlier row" means what it says.
    const select = sqlite.prepare('SELECT id, username, email, encrypted_password FROM user ORDER BY rowid')
    select.setReadBigInts(true)
    return select.all() as FlaskRow[]
  } finally {
    sqlite.close()
  }
}

/**
 * A Flask id as `users.legacy_id` keeps it: a safe integer, from an INTEGER or from text of digits.
 * Anything else (a fraction, an id past 2^53, text that is not a number, a blob, NULL) is undefined,
 * so no value the file chose is ever written into SQL as it came.
 */
export function parseLegacyId(value: unknown): number | undefined {
  const id =
    typeof value === 'bigint'
      ? Number(value) // past 2^53 this is no longer a safe integer, and is refused below
      : typeof value === 'number'
        ? value
        : typeof value === 'string' && /^-?\d{1,16}$/.test(value)
          ? Number(value)
          : Number.NaN
  return Number.isSafeInteger(id) ? id : undefined
}

/** A row's id for a message: printable whatever the file put there, and never long. */
function describeId(value: unknown): string {
  if (typeof value === 'bigint' || typeof value === 'number') return String(value)
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (value instanceof Uint8Array) return `(a ${value.length}-byte blob)`
  return 'NULL'
}

const text = (value: unknown) => (value instanceof Uint8Array ? new TextDecoder().decode(value) : typeof value === 'string' ? value : '')

/**
 * What each row becomes. `existing` is what the target database holds now; a collision with it, or
 * with an earlier row of the file, is refused here, so a batch never fails on one.
 */
export function planImport(rows: FlaskRow[], existing: { username_normalized: string; email: string; legacy_id: number | null }[]): Plan {
  const takenNames = new Set(existing.map((user) => user.username_normalized))
  const takenEmails = new Set(existing.map((user) => user.email))
  const importedBefore = new Set(existing.map((user) => user.legacy_id).filter((id) => id !== null))
  const seenIds = new Set<number>()
  const plan: Plan = { rows: rows.length, accepted: [], importedBefore: 0, refused: [] }
  for (const row of rows) {
    const refuse = (rule: string) => plan.refused.push({ row: describeId(row.id), rule })
    const legacyId = parseLegacyId(row.id)
    if (legacyId === undefined) {
      refuse('id is not a safe integer (a whole number no further than 2^53 - 1 from zero), so it cannot be kept as legacy_id')
      continue
    }
    if (seenIds.has(legacyId)) {
      refuse('id is the same as an earlier row of the file')
      continue
    }
    seenIds.add(legacyId)
    if (importedBefore.has(legacyId)) {
      plan.importedBefore++
      continue
    }
    const username = usernameField.safeParse(row.username)
    const email = emailField.safeParse(row.email)
    const hash = text(row.encrypted_password)
    const cost = Number(BCRYPT.exec(hash)?.[1])
    if (!username.success) refuse(`username ${username.error.issues[0]?.message}`)
    else if (!email.success) refuse(`email ${email.error.issues[0]?.message}`)
    else if (!(cost >= 4 && cost <= 31)) refuse('password hash is not bcrypt ($2a$/$2b$/$2y$, cost 4-31)')
    else if (takenNames.has(normaliseUsername(username.data))) refuse('username is taken, case-insensitively, by another account or row')
    else if (takenEmails.has(normaliseEmail(email.data))) refuse('email is taken by another account or row')
    else {
      takenNames.add(normaliseUsername(username.data))
      takenEmails.add(normaliseEmail(email.data))
      plan.accepted.push({ legacyId, username: username.data, email: normaliseEmail(email.data), hash, bcryptCost: cost })
    }
  }
  return plan
}

/**
 * Why an accepted user's bcrypt hash will not be checked at login, if it will not: the login
 * treats a hash above BCRYPT_MAX_COST as unusable (one check costs what the Workers plan may not
 * allow). The account is still imported, so its owner keeps the username and address and sets a
 * password through a reset; raising BCRYPT_MAX_COST makes the kept hash usable again.
 */
export function unusableHashReason(user: NewUser, bcryptMaxCost: number): string | undefined {
  if (user.bcryptCost <= bcryptMaxCost) return undefined
  return `bcrypt cost ${user.bcryptCost} above BCRYPT_MAX_COST ${bcryptMaxCost}: its owner must reset the password`
}

/**
 * One value as an SQL literal. The rows go through `wrangler d1 execute --file`, which takes no
 * bound parameters, so every value, numbers included, goes through here: a string is quoted with
 * its quotes doubled, a number must be a safe integer.
 */
export function sqlLiteral(value: string | number | null): string {
  if (value === null) return 'NULL'
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new ImportError(`${value} is not a safe integer; it is not written into SQL`)
    return String(value)
  }
  if (value.includes('\0')) throw new ImportError('a value holds a NUL character; it is not written into SQL')
  return `'${value.replaceAll("'", "''")}'`
}

async function query<Row>(target: Target, sql: string): Promise<Row[]> {
  const output = await capture('wrangler', ['d1', 'execute', 'DB', target.where, '--json', '--command', sql], { cwd: target.cwd })
  const results = JSON.parse(output) as { results: Row[] }[]
  return results.flatMap((result) => result.results)
}

/** What the target database holds that a row could collide with. */
export function readExistingUsers(target: Target) {
  return query<{ username_normalized: string; email: string; legacy_id: number | null }>(
    target,
    'SELECT username_normalized, email, legacy_id FROM users',
  )
}

export type WriteResult = {
  imported: NewUser[]
  /** Sent, and dropped by ON CONFLICT DO NOTHING: the database held its username, email or Flask id by then. */
  conflicts: NewUser[]
  /** Not sent, because an earlier call failed. */
  unsent: NewUser[]
  error?: Error
}

/**
 * Writes `users` in calls of ROWS_PER_CALL rows, then reads back which of them the database holds.
 * Every row of one run has `created_at = now` and an id made here, so a row counts as imported only
 * when its own id is there afterwards; a row the database dropped counts as a conflict.
 */
export async function writeUsers(
  target: Target,
  users: NewUser[],
  now: number,
  progress: (written: number, total: number) => void = () => {},
): Promise<WriteResult> {
  if (users.length === 0) return { imported: [], conflicts: [], unsent: [] }
  const rows = users.map((user, i) => ({ user, id: uuidv7(now + i) }))
  const dir = mkdtempSync(join(tmpdir(), 'edge-users-import-'))
  let sent = 0
  let error: Error | undefined
  try {
    for (; sent < rows.length; sent += ROWS_PER_CALL) {
      const chunk = rows.slice(sent, sent + ROWS_PER_CALL)
      const statements: string[] = []
      for (let i = 0; i < chunk.length; i += ROWS_PER_STATEMENT) {
        const values = chunk.slice(i, i + ROWS_PER_STATEMENT).map(({ user, id }) => {
          const fields = [id, user.username, normaliseUsername(user.username), user.email, user.hash, 'user', 0, 0, now, now, user.legacyId]
          return `(${fields.map(sqlLiteral).join(', ')})`
        })
        statements.push(
          `INSERT INTO users (id, username, username_normalized, email, password_hash, role, email_verified, disabled, created_at, updated_at, legacy_id) VALUES ${values.join(', ')} ON CONFLICT DO NOTHING;`,
        )
      }
      const sqlFile = join(dir, `chunk-${sent}.sql`)
      writeFileSync(sqlFile, statements.join('\n'))
      await run('wrangler', ['d1', 'execute', 'DB', target.where, '--file', sqlFile, '--yes'], {
        stdio: 'ignore',
        cwd: target.cwd,
        env: { ...quietEnv, CI: 'true' },
      })
      progress(Math.min(sent + ROWS_PER_CALL, rows.length), rows.length)
    }
  } catch (failure) {
    error = failure as Error
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const landed = new Set(
    (await query<{ id: string }>(target, `SELECT id FROM users WHERE created_at = ${sqlLiteral(now)} AND legacy_id IS NOT NULL`)).map(
      (row) => row.id,
    ),
  )
  const result: WriteResult = { imported: [], conflicts: [], unsent: [], error }
  rows.forEach(({ user, id }, i) => {
    if (landed.has(id)) result.imported.push(user)
    else if (i < sent) result.conflicts.push(user)
    else result.unsent.push(user)
  })
  return result
}

/** One `user.imported` audit event with the counts. */
export async function recordImport(target: Target, now: number, counts: Record<string, number>) {
  const details = JSON.stringify({ ...counts, source: 'flask' })
  const values = [uuidv7(now), now, 'user.imported', null, null, null, 'npm run import:flask', details].map(sqlLiteral)
  await query(
    target,
    `INSERT INTO audit_events (id, at, action, actor_id, target_id, ip, user_agent, details) VALUES (${values.join(', ')})`,
  )
}
