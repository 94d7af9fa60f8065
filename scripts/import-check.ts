/**
 * `npm run import:check`: makes a database exactly like the Flask app's (table `user`, bcrypt
 * hashes as BLOBs, rows that break this API's rules among them), imports it into a fresh project
 * copy's local D1 with `npm run import:flask`, and checks through a dev server what a user would:
 * the counts, that the imported users log in with their old passwords (and are re-hashed to PBKDF2),
 * that a wrong password is a plain 401, that a hash above BCRYPT_MAX_COST is reported refused, and
 * that a second import counts every row it finds imported as a conflict and changes nothing. Then
 * a crafted file whose ids are not integers (an SQL fragment, a fraction, a number past 2^53, a
 * repeated id) has those rows refused and the rest imported, and a write the database refuses
 * after the plan was made counts as a conflict, not as imported.
 */
import { spawn, spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import bcrypt from 'bcryptjs'
import { type DevServer, scratchCopy, startDevServer } from './lib/dev-server.ts'
import { writeUsers } from './lib/flask-import.ts'
import { quietEnv } from './lib/run.ts'

const dir = scratchCopy()
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
let failures = 0
const check = (ok: boolean, what: string, detail = '') => {
  if (!ok) failures++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok || !detail ? '' : `\n${detail}`}`)
}
const bcryptHash = (password: string, cost = 4) => bcrypt.hashSync(password, cost)
const blob = (hash: string) => new TextEncoder().encode(hash)

// Flask-SQLAlchemy's table for the tutorial's model, and Flask-Bcrypt's bytes.
const appDb = join(dir, 'app.db')
const flask = new DatabaseSync(appDb)
flask.exec(`CREATE TABLE user (
  id INTEGER NOT NULL, username VARCHAR(80) NOT NULL, email VARCHAR(120) NOT NULL, encrypted_password VARCHAR(128) NOT NULL,
  PRIMARY KEY (id), UNIQUE (username), UNIQUE (email))`)
const insert = flask.prepare('INSERT INTO user (id, username, email, encrypted_password) VALUES (?, ?, ?, ?)')
insert.run(1, 'alice', 'Alice@Example.com', blob(bcryptHash('wonderland')))
insert.run(2, 'bob', 'bob@example.com', blob(bcryptHash('x2', 12)))
insert.run(3, 'bad name', 'bad@example.com', blob(bcryptHash('pw')))
insert.run(4, 'ALICE', 'alice2@example.com', blob(bcryptHash('pw')))
insert.run(5, 'carol', 'not-an-email', blob(bcryptHash('pw')))
insert.run(6, 'dave', 'alice@example.com ', blob(bcryptHash('pw')))
insert.run(7, 'erin', 'erin@example.com', blob('plaintext-password'))
insert.run(8, 'frank', 'frank@example.com', blob(bcryptHash('expensive', 13)))
flask.close()

// Not the Flask app's schema: a table without types, so its ids can be anything SQLite stores.
const craftedDb = join(dir, 'crafted.db')
const crafted = new DatabaseSync(craftedDb)
crafted.exec('CREATE TABLE user (id, username, email, encrypted_password)')
const insertCrafted = crafted.prepare('INSERT INTO user (id, username, email, encrypted_password) VALUES (?, ?, ?, ?)')
insertCrafted.run('1); DROP TABLE users; --', 'mallory', 'mallory@example.com', blob(bcryptHash('pw')))
insertCrafted.run(1.5, 'oscar', 'oscar@example.com', blob(bcryptHash('pw')))
insertCrafted.run(2n ** 53n + 1n, 'peggy', 'peggy@example.com', blob(bcryptHash('pw')))
insertCrafted.run(300, 'trent', 'trent@example.com', blob(bcryptHash('trusted')))
insertCrafted.run('301', 'victor', 'victor@example.com', blob(bcryptHash('verified')))
insertCrafted.run(300, 'walter', 'walter@example.com', blob(bcryptHash('pw')))
crafted.close()

/** Runs the import without blocking this process, so its HTTP connections to the dev server stay alive. */
function importFlask(file: string, ...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '-s', 'import:flask', '--', file, ...args], { cwd: dir, env: quietEnv })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.on('exit', (status) => resolve({ status, stdout, stderr }))
  })
}

function storedHash(legacyId: number): string {
  const result = spawnSync(
    'npx',
    ['wrangler', 'd1', 'execute', 'DB', '--local', '--json', '--command', `SELECT password_hash FROM users WHERE legacy_id = ${legacyId}`],
    { cwd: dir, encoding: 'utf8', env: quietEnv },
  )
  return (JSON.parse(result.stdout) as { results: { password_hash: string }[] }[])[0]?.results[0]?.password_hash ?? '(no such user)'
}

let server: DevServer | undefined
try {
  server = await startDevServer(dir)
  const login = (username: string, password: string) =>
    fetch(`${server!.base}/api/v1/users/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    })

  const dry = await importFlask(appDb, '--dry-run')
  check(
    /8 rows: 3 to import, 0 skipped \(conflict: 0 imported before\), 5 refused\./.test(dry.stdout),
    'a dry run counts 3 to import and 5 refused',
    dry.stdout + dry.stderr,
  )
  for (const [id, rule] of [
    [3, 'username'],
    [4, 'username is taken'],
    [5, 'email'],
    [6, 'email is taken'],
    [7, 'not bcrypt'],
  ] as const) {
    check(new RegExp(`refused row ${id}: .*${rule}`).test(dry.stdout), `row ${id} is refused for its ${rule}`)
  }
  check((await login('alice', 'wonderland')).status === 401, 'a dry run writes nothing')

  const first = await importFlask(appDb)
  check(
    /8 rows: 3 imported, 0 skipped \(conflict: 0 imported before, 0 taken when written\), 5 refused\. 1 imported without a usable password/.test(
      first.stdout,
    ),
    'the import imports 3 rows, one of them without a usable password',
    first.stdout + first.stderr,
  )
  check(
    /refused password hash of row 8: bcrypt cost 13 above BCRYPT_MAX_COST 12: its owner must reset the password/.test(first.stdout),
    "frank's cost-13 hash is reported refused, with the reason",
    first.stdout,
  )
  check(
    /^\$2b\$13\$/.test(storedHash(8)),
    'and frank is imported, his hash kept for the login to refuse (or to use, if BCRYPT_MAX_COST is raised)',
  )
  check((await login('alice', 'wonderland')).status === 200, 'alice logs in with her Flask password (bcrypt cost 4)')
  check((await login('alice@example.com', 'wonderland')).status === 200, 'and with her email, lower-cased on import')
  check((await login('bob', 'x2')).status === 200, 'bob logs in with his two-character Flask password (bcrypt cost 12)')
  check((await login('bob', 'x3')).status === 401, 'a wrong password is a plain 401')
  check((await login('frank', 'expensive')).status === 401, "frank's right password meets the unusable cost-13 hash: a plain 401")
  check(/\$pbkdf2-sha256\$/.test(storedHash(1)), "alice's hash is PBKDF2 after her first login")

  const second = await importFlask(appDb)
  check(
    /8 rows: 0 imported, 3 skipped \(conflict: 3 imported before, 0 taken when written\), 5 refused\./.test(second.stdout),
    'a second import counts the 3 imported rows as conflicts and imports nothing',
    second.stdout,
  )

  const odd = await importFlask(craftedDb)
  check(
    /6 rows: 2 imported, 0 skipped \(conflict: 0 imported before, 0 taken when written\), 4 refused\./.test(odd.stdout),
    'a file with crafted ids imports only the rows whose id is an integer',
    odd.stdout + odd.stderr,
  )
  for (const [row, rule] of [
    ['"1\\); DROP TABLE users; --"', 'id is not a safe integer'],
    ['1\\.5', 'id is not a safe integer'],
    ['9007199254740993', 'id is not a safe integer'],
    ['300', 'id is the same as an earlier row'],
  ] as const) {
    check(new RegExp(`refused row ${row}: ${rule}`).test(odd.stdout), `row ${row.replaceAll('\\', '')} is refused: ${rule}`)
  }
  check((await login('trent', 'trusted')).status === 200, 'trent (id 300) is imported and logs in: the users table is intact')
  check((await login('victor', 'verified')).status === 200, "victor (id '301', an integer written as text) is imported")

  // What a concurrent signup or import does between the plan and the write: alice is planned
  // again as if she were new, and the database drops her row.
  const raced = await writeUsers(
    { where: '--local', cwd: dir },
    [
      { legacyId: 1, username: 'alice', email: 'alice@example.com', hash: bcryptHash('wonderland'), bcryptCost: 4 },
      { legacyId: 500, username: 'heidi', email: 'heidi@example.com', hash: bcryptHash('hidden'), bcryptCost: 4 },
    ],
    Date.now(),
  )
  check(
    raced.imported.map((user) => user.username).join() === 'heidi' && raced.conflicts.map((user) => user.username).join() === 'alice',
    'a row ON CONFLICT DO NOTHING drops counts as a conflict, the other as imported',
    JSON.stringify({ imported: raced.imported.map((user) => user.username), conflicts: raced.conflicts.map((user) => user.username) }),
  )
  check((await login('heidi', 'hidden')).status === 200, 'heidi, written beside the conflict, logs in')
} catch (error) {
  failures++
  console.log(`FAIL ${(error as Error).message}\n${server?.output().slice(-3000) ?? ''}`)
} finally {
  server?.stop()
}
console.log(failures === 0 ? '\nThe Flask import works end to end.' : `\n${failures} import check(s) failed.`)
process.exit(failures === 0 ? 0 : 1)
