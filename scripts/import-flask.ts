/**
 * `npm run import:flask -- <app.db> [--remote] [--dry-run]`: brings the users of the Flask app this
 * project began as (its SQLite file: table `user`, bcrypt hashes stored as BLOBs) into the local
 * or the deployed D1. Every row is checked against this API's rules and ends imported, skipped (a
 * conflict: the database already holds it) or refused with its row id and the rule; the three
 * counts add up to the file's rows. Imported users keep their bcrypt hash (their first login
 * re-hashes it to PBKDF2), get role `user`, an unverified address and a new UUIDv7 id.
 */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  ImportError,
  type Plan,
  planImport,
  readExistingUsers,
  readFlaskUsers,
  recordImport,
  type Target,
  type WriteResult,
  writeUsers,
} from './lib/flask-import.ts'

const USAGE = 'Usage: npm run import:flask -- <app.db> [--remote] [--dry-run]'

function parseOptions() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { remote: { type: 'boolean', default: false }, 'dry-run': { type: 'boolean', default: false } },
  })
  const file = positionals[0]
  if (!file) {
    console.error(USAGE)
    process.exit(2)
  }
  // npm runs scripts from the project's folder; a relative path means the folder it was typed in.
  const path = resolve(process.env.INIT_CWD ?? '.', file)
  const target: Target = { where: values.remote ? '--remote' : '--local' }
  return { file, path, target, dryRun: values['dry-run'] }
}

function reportRefusals(plan: Plan) {
  for (const { row, rule } of plan.refused) console.log(`refused row ${row}: ${rule}`)
}

function reportConflicts(written: WriteResult) {
  for (const user of written.conflicts) {
    console.log(`conflict row ${user.legacyId}: not written, the database held its username, email or Flask id by then`)
  }
}

async function main() {
  const { file, path, target, dryRun } = parseOptions()
  const rows = readFlaskUsers(path)
  const plan = planImport(rows, await readExistingUsers(target))
  reportRefusals(plan)

  if (dryRun) {
    console.log(
      `${plan.rows} rows: ${plan.accepted.length} to import, ${plan.importedBefore} skipped (conflict: ${plan.importedBefore} imported before), ${plan.refused.length} refused.`,
    )
    return
  }

  const now = Date.now()
  const written = await writeUsers(target, plan.accepted, now, (done, total) => console.log(`  wrote ${done} of ${total}`))
  reportConflicts(written)
  const skipped = plan.importedBefore + written.conflicts.length
  console.log(
    `${plan.rows} rows: ${written.imported.length} imported, ${skipped} skipped (conflict: ${plan.importedBefore} imported before, ` +
      `${written.conflicts.length} taken when written), ${written.unsent.length > 0 ? `${written.unsent.length} not sent, ` : ''}` +
      `${plan.refused.length} refused.`,
  )
  if (written.imported.length > 0) {
    await recordImport(target, now, {
      rows: plan.rows,
      imported: written.imported.length,
      skipped,
      refused: plan.refused.length,
    })
  }
  if (written.error) {
    console.error(
      `The import of ${file} stopped: ${written.error.message}. ${written.unsent.length} accepted rows were not sent; ` +
        'run it again to import them (the rows imported so far are skipped).',
    )
    process.exitCode = 1
  }
}

try {
  await main()
} catch (error) {
  if (!(error instanceof ImportError)) throw error
  console.error(error.message)
  process.exit(2)
}
