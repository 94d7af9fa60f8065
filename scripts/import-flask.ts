/**
 * `npm run import:flask -- <app.db> [--remote] [--dry-run]`: brings the users of the Flask app this
 * project began as (its SQLite file: table `user`, bcrypt hashes stored as BLOBs) into the local
 * or the deployed D1. Every row is checked against this API's rules; each row is imported, skipped
 * (imported before: its Flask id is in `legacy_id`) or refused with its row id and the rule, and the
 * three counts add up to the file's rows. Imported users keep their bcrypt hash (their first login
 * re-hashes it to PBKDF2), get role `user`, an unverified address and a new UUIDv7 id.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { parseArgs } from 'node:util'
import { normaliseEmail, normaliseUsername } from '../src/db/users.ts'
import { uuidv7 } from '../src/lib/ids.ts'
import { emailField, usernameField } from '../src/schemas/fields.ts'
import { capture, run } from './lib/run.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { remote: { type: 'boolean', default: false }, 'dry-run': { type: 'boolean', default: false } },
})
const file = positionals[0]
if (!file) {
  console.error('Usage: npm run import:flask -- <app.db> [--remote] [--dry-run]')
  process.exit(2)
}
const where = values.remote ? '--remote' : '--local'
/** Rows per INSERT statement and per `wrangler d1 execute` call. */
const ROWS_PER_STATEMENT = 100
const ROWS_PER_CALL = 5000
const BCRYPT = /^\$2[aby]\$(0[4-9]|1[0-5])\$[./A-Za-z0-9]{53}$/

type FlaskRow = { id: number; username: unknown; email: unknown; encrypted_password: unknown }
type Refusal = { id: number; rule: string }

const sqlite = new DatabaseSync(resolve(process.env.INIT_CWD ?? '.', file), { readOnly: true })
const columns = sqlite.prepare("SELECT name FROM pragma_table_info('user')").all() as { name: string }[]
for (const needed of ['id', 'username', 'email', 'encrypted_password']) {
  if (!columns.some((column) => column.name === needed)) {
    console.error(`${file} has no table "user" with a column "${needed}": is it the Flask app's database?`)
    process.exit(2)
  }
}
const rows = sqlite.prepare('SELECT id, username, email, encrypted_password FROM user ORDER BY id').all() as FlaskRow[]

// What the target database already holds, so a collision is reported instead of failing a batch.
type Existing = { username_normalized: string; email: string; legacy_id: number | null }
const [existing] = JSON.parse(
  await capture('wrangler', [
    'd1',
    'execute',
    'DB',
    where,
    '--json',
    '--command',
    'SELECT username_normalized, email, legacy_id FROM users',
  ]),
) as { results: Existing[] }[]
const takenNames = new Set(existing!.results.map((row) => row.username_normalized))
const takenEmails = new Set(existing!.results.map((row) => row.email))
const imported = new Set(existing!.results.map((row) => row.legacy_id).filter((id) => id !== null))

const text = (value: unknown) => (value instanceof Uint8Array ? new TextDecoder().decode(value) : typeof value === 'string' ? value : '')
const accepted: { id: number; username: string; email: string; hash: string }[] = []
const refused: Refusal[] = []
let skipped = 0
for (const row of rows) {
  if (imported.has(row.id)) {
    skipped++
    continue
  }
  const username = usernameField.safeParse(row.username)
  const email = emailField.safeParse(row.email)
  const hash = text(row.encrypted_password)
  const refuse = (rule: string) => refused.push({ id: row.id, rule })
  if (!username.success) refuse(`username ${username.error.issues[0]?.message}`)
  else if (!email.success) refuse(`email ${email.error.issues[0]?.message}`)
  else if (!BCRYPT.test(hash)) refuse('password hash is not bcrypt ($2a$/$2b$/$2y$, cost 4-15)')
  else if (takenNames.has(normaliseUsername(username.data))) refuse('username is taken, case-insensitively, by another account or row')
  else if (takenEmails.has(normaliseEmail(email.data))) refuse('email is taken by another account or row')
  else {
    takenNames.add(normaliseUsername(username.data))
    takenEmails.add(normaliseEmail(email.data))
    accepted.push({ id: row.id, username: username.data, email: normaliseEmail(email.data), hash })
  }
}

for (const { id, rule } of refused) console.log(`refused row ${id}: ${rule}`)
console.log(
  `${rows.length} rows: ${accepted.length} ${values['dry-run'] ? 'to import' : 'imported'}, ${skipped} skipped (imported before), ${refused.length} refused.`,
)

if (!values['dry-run'] && accepted.length > 0) {
  // SQL literals, not bound parameters: wrangler's --file takes none (and D1's 100-parameter limit
  // is about bound ones). Every value is validated above; quote() escapes what remains.
  const quote = (value: string) => `'${value.replace(/'/g, "''")}'`
  const now = Date.now()
  const dir = mkdtempSync(join(tmpdir(), 'edge-users-import-'))
  try {
    for (let from = 0; from < accepted.length; from += ROWS_PER_CALL) {
      const chunk = accepted.slice(from, from + ROWS_PER_CALL)
      const statements: string[] = []
      for (let i = 0; i < chunk.length; i += ROWS_PER_STATEMENT) {
        const values = chunk.slice(i, i + ROWS_PER_STATEMENT).map((row, k) => {
          const at = now + from + i + k
          return `(${quote(uuidv7(at))}, ${quote(row.username)}, ${quote(normaliseUsername(row.username))}, ${quote(row.email)}, ${quote(row.hash)}, 'user', 0, 0, ${now}, ${now}, ${row.id})`
        })
        statements.push(
          `INSERT INTO users (id, username, username_normalized, email, password_hash, role, email_verified, disabled, created_at, updated_at, legacy_id) VALUES ${values.join(', ')} ON CONFLICT DO NOTHING;`,
        )
      }
      const sqlFile = join(dir, `chunk-${from}.sql`)
      writeFileSync(sqlFile, statements.join('\n'))
      await run('wrangler', ['d1', 'execute', 'DB', where, '--file', sqlFile, '--yes'], {
        stdio: 'ignore',
        env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
      })
      console.log(`  wrote ${Math.min(from + ROWS_PER_CALL, accepted.length)} of ${accepted.length}`)
    }
    const details = JSON.stringify({ rows: rows.length, imported: accepted.length, skipped, refused: refused.length, source: 'flask' })
    await capture('wrangler', [
      'd1',
      'execute',
      'DB',
      where,
      '--command',
      `INSERT INTO audit_events (id, at, action, actor_id, target_id, ip, user_agent, details) VALUES (${quote(uuidv7(now))}, ${now}, 'user.imported', NULL, NULL, NULL, 'npm run import:flask', ${quote(details)})`,
    ])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
