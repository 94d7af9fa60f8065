/**
 * `npm run import:flask -- <app.db> [--remote] [--dry-run]`: brings the users of the Flask app this
 * project began as (its SQLite file: table `user`, bcrypt hashes stored as BLOBs) into the local
 * or the deployed D1. Every row is checked against this API's rules and ends imported, skipped (a
 * conflict: the database already holds it) or refused with its row id and the rule; the three
 * counts add up to the file's rows. Imported users keep their bcrypt hash (their first login
 * re-hashes it to PBKDF2), get role `user`, an unverified address and a new UUIDv7 id. A hash
 * whose cost is above BCRYPT_MAX_COST (wrangler.toml) is reported as refused: the user is
 * imported, and the login treats that hash as unusable until its owner resets the password.
 */
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import {
  ImportError,
  type NewUser,
  type Plan,
  parseBcryptMaxCost,
  planImport,
  readExistingUsers,
  readFlaskUsers,
  recordImport,
  type Target,
  unusableHashReason,
  type WriteResult,
  writeUsers,
} from './lib/flask-import.ts'
import { wranglerVar } from './lib/wrangler-toml.ts'

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

function reportUnusableHashes(users: NewUser[], bcryptMaxCost: number, dryRun: boolean) {
  const outcome = dryRun ? 'the user would be imported without a usable password' : 'the user is imported without a usable password'
  for (const user of users) {
    const reason = unusableHashReason(user, bcryptMaxCost)
    if (reason) console.log(`refused password hash of row ${user.legacyId}: ${reason} (${outcome})`)
  }
}

function reportConflicts(written: WriteResult) {
  for (const user of written.conflicts) {
    console.log(`conflict row ${user.legacyId}: not written, the database held its username, email or Flask id by then`)
  }
}

async function main() {
  const { file, path, target, dryRun } = parseOptions()
  const bcryptMaxCost = parseBcryptMaxCost(wranglerVar('BCRYPT_MAX_COST'))
  const rows = readFlaskUsers(path)
  const plan = planImport(rows, await readExistingUsers(target))
  reportRefusals(plan)

  if (dryRun) {
    reportUnusableHashes(plan.accepted, bcryptMaxCost, true)
    console.log(
      `${plan.rows} rows: ${plan.accepted.length} to import, ${plan.importedBefore} skipped (conflict: ${plan.importedBefore} imported before), ${plan.refused.length} refused.`,
    )
    return
  }

  const now = Date.now()
  const written = await writeUsers(target, plan.accepted, now, (done, total) => console.log(`  wrote ${done} of ${total}`))
  reportConflicts(written)
  reportUnusableHashes(written.imported, bcryptMaxCost, false)
  const skipped = plan.importedBefore + written.conflicts.length
  const unusable = written.imported.filter((user) => unusableHashReason(user, bcryptMaxCost)).length
  console.log(
    `${plan.rows} rows: ${written.imported.length} imported, ${skipped} skipped (conflict: ${plan.importedBefore} imported before, ` +
      `${written.conflicts.length} taken when written), ${written.unsent.length > 0 ? `${written.unsent.length} not sent, ` : ''}` +
      `${plan.refused.length} refused.` +
      (unusable > 0 ? ` ${unusable} imported without a usable password (bcrypt cost above BCRYPT_MAX_COST ${bcryptMaxCost}).` : ''),
  )
  if (written.imported.length > 0) {
    await recordImport(target, now, {
      rows: plan.rows,
      imported: written.imported.length,
      skipped,
      refused: plan.refused.length,
      unusable_password_hashes: unusable,
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
