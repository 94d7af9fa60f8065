/**
 * `npm run import:check`: makes a database exactly like the Flask app's (table `user`, bcrypt
 * hashes as BLOBs, rows that break this API's rules among them), imports it into a fresh project
 * copy's local D1 with `npm run import:flask`, and checks through a dev server what a user would:
 * the counts, that the imported users log in with their old passwords (and are re-hashed to PBKDF2),
 * that a wrong password is a plain 401, and that a second import changes nothing.
 */
import { spawn, spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import bcrypt from 'bcryptjs'
import { type DevServer, scratchCopy, startDevServer } from './lib/dev-server.ts'
import { quietEnv } from './lib/run.ts'

const dir = scratchCopy()
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
let failures = 0
const check = (ok: boolean, what: string, detail = '') => {
  if (!ok) failures++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok || !detail ? '' : `\n${detail}`}`)
}

// Flask-SQLAlchemy's table for the tutorial's model, and Flask-Bcrypt's bytes.
const appDb = join(dir, 'app.db')
const flask = new DatabaseSync(appDb)
flask.exec(`CREATE TABLE user (
  id INTEGER NOT NULL, username VARCHAR(80) NOT NULL, email VARCHAR(120) NOT NULL, encrypted_password VARCHAR(128) NOT NULL,
  PRIMARY KEY (id), UNIQUE (username), UNIQUE (email))`)
const hash = (password: string, cost = 4) => new TextEncoder().encode(bcrypt.hashSync(password, cost))
const insert = flask.prepare('INSERT INTO user (id, username, email, encrypted_password) VALUES (?, ?, ?, ?)')
insert.run(1, 'alice', 'Alice@Example.com', hash('wonderland'))
insert.run(2, 'bob', 'bob@example.com', hash('x2', 12))
insert.run(3, 'bad name', 'bad@example.com', hash('pw'))
insert.run(4, 'ALICE', 'alice2@example.com', hash('pw'))
insert.run(5, 'carol', 'not-an-email', hash('pw'))
insert.run(6, 'dave', 'alice@example.com ', hash('pw'))
insert.run(7, 'erin', 'erin@example.com', new TextEncoder().encode('plaintext-password'))
flask.close()

/** Runs the import without blocking this process, so its HTTP connections to the dev server stay alive. */
function importFlask(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '-s', 'import:flask', '--', appDb, ...args], { cwd: dir, env: quietEnv })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.on('exit', (status) => resolve({ status, stdout, stderr }))
  })
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

  const dry = await importFlask('--dry-run')
  check(
    /7 rows: 2 to import, 0 skipped \(imported before\), 5 refused\./.test(dry.stdout),
    'a dry run counts 2 to import and 5 refused',
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

  const first = await importFlask()
  check(/7 rows: 2 imported, 0 skipped/.test(first.stdout), 'the import imports 2 rows', first.stdout + first.stderr)
  check((await login('alice', 'wonderland')).status === 200, 'alice logs in with her Flask password (bcrypt cost 4)')
  check((await login('alice@example.com', 'wonderland')).status === 200, 'and with her email, lower-cased on import')
  check((await login('bob', 'x2')).status === 200, 'bob logs in with his two-character Flask password (bcrypt cost 12)')
  check((await login('bob', 'x3')).status === 401, 'a wrong password is a plain 401')
  const stored = spawnSync(
    'npx',
    ['wrangler', 'd1', 'execute', 'DB', '--local', '--json', '--command', 'SELECT password_hash FROM users WHERE legacy_id = 1'],
    { cwd: dir, encoding: 'utf8', env: quietEnv },
  )
  check(/\$pbkdf2-sha256\$/.test(stored.stdout), "alice's hash is PBKDF2 after her first login")

  const second = await importFlask()
  check(
    /7 rows: 0 imported, 2 skipped \(imported before\), 5 refused\./.test(second.stdout),
    'a second import imports nothing',
    second.stdout,
  )
} catch (error) {
  failures++
  console.log(`FAIL ${(error as Error).message}\n${server?.output().slice(-3000) ?? ''}`)
} finally {
  server?.stop()
}
console.log(failures === 0 ? '\nThe Flask import works end to end.' : `\n${failures} import check(s) failed.`)
process.exit(failures === 0 ? 0 : 1)
