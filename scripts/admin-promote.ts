/**
 * `npm run admin:promote -- <username or email> [--remote]`: makes an existing user an admin, in
 * the local D1 database or, with --remote, the deployed one. This is how the first admin is made.
 */
import { promoteToAdminStatements } from '../src/db/promote.ts'
import { capture } from './lib/run.ts'

const args = process.argv.slice(2)
const remote = args.includes('--remote')
const identifier = args.find((arg) => !arg.startsWith('--'))
if (!identifier) {
  console.error('Usage: npm run admin:promote -- <username or email> [--remote]')
  process.exit(2)
}

const command = promoteToAdminStatements(identifier).join(';\n')
let output: string
try {
  output = await capture('wrangler', ['d1', 'execute', 'DB', remote ? '--remote' : '--local', '--json', '--command', command])
} catch {
  console.error(
    `Could not run the update. Is the ${remote ? 'remote' : 'local'} database migrated (npm run db:migrate${remote ? ':remote' : ''})?`,
  )
  process.exit(1)
}

type StatementResult = { results: { username: string; email: string; disabled: number }[] }
const results = JSON.parse(output) as StatementResult[]
const promoted = results[results.length - 1]?.results[0]
if (!promoted) {
  console.error(`No user has the username or email "${identifier}" in the ${remote ? 'remote' : 'local'} database. Sign up first.`)
  process.exit(1)
}
console.log(
  `${promoted.username} <${promoted.email}> is now an admin: their next request has admin rights; log in again for a token whose role claim says so.`,
)
if (promoted.disabled) console.log('Note: the account is disabled; an admin can enable it with PATCH /api/v1/admin/users/{id}.')
