/**
 * The people of the check, made as the README makes them: sign up, prove the address with the
 * link of the mail the dev server wrote, and for the admin `npm run admin:promote` against the
 * scratch copy's local database, then a login (a fresh login is the recent proof admin routes want).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { quietEnv } from '../lib/run.ts'
import { ensure } from './report.ts'

export type Person = { username: string; email: string; password: string }

/** Every mail text wrangler dev wrote in `dir`, with its time. */
function mails(dir: string): { file: string; at: number }[] {
  const root = join(dir, '.wrangler/tmp/email')
  if (!existsSync(root)) return []
  return readdirSync(root).flatMap((id) => {
    const texts = join(root, id, 'email-text')
    return existsSync(texts) ? readdirSync(texts).map((name) => ({ file: join(texts, name), at: statSync(join(texts, name)).mtimeMs })) : []
  })
}

const usedTokens = new Set<string>()

/**
 * The token of the newest verification link mailed since `since` that no signup took yet, waiting
 * up to 15 s for the mail queue. The people sign up one after the other, so the newest is theirs.
 */
async function verificationToken(dir: string, since: number): Promise<string | undefined> {
  for (let i = 0; i < 60; i++) {
    const token = mails(dir)
      .filter((mail) => mail.at >= since)
      .sort((a, b) => b.at - a.at)
      .map(({ file }) => /verify-email#token=([A-Za-z0-9_-]+)/.exec(readFileSync(file, 'utf8'))?.[1])
      .find((found) => found !== undefined && !usedTokens.has(found))
    if (token) {
      usedTokens.add(token)
      return token
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  return undefined
}

const post = (base: string, path: string, body: unknown, token?: string) =>
  fetch(`${base}/api/v1${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  })

/** Signs `person` up and proves the address; the account's id. */
export async function signUp(base: string, dir: string, person: Person): Promise<string> {
  const since = Date.now() - 1000
  const answer = await post(base, '/users/signup', person)
  const body = (await answer.json()) as { user?: { id?: string } }
  ensure(answer.status === 201 && typeof body.user?.id === 'string', `${person.username} signs up (${answer.status})`, JSON.stringify(body))
  const token = await verificationToken(dir, since)
  ensure(token !== undefined, `the signup mail to ${person.email} has a verification link`)
  const verified = await post(base, '/users/email/verify', { token })
  ensure(verified.status === 200, `${person.username} proves the address with it (${verified.status})`, await verified.text())
  return body.user!.id!
}

/** A fresh login's access token. */
export async function logIn(base: string, person: Person): Promise<string> {
  const answer = await post(base, '/users/login', { username: person.username, password: person.password })
  const body = (await answer.json()) as { access_token?: string }
  ensure(
    answer.status === 200 && typeof body.access_token === 'string',
    `${person.username} logs in (${answer.status})`,
    JSON.stringify(body),
  )
  return body.access_token!
}

/** Makes `person` an admin the way the README makes the first one, in the scratch copy. */
export function promote(dir: string, person: Person): void {
  const run = spawnSync('npm', ['run', '-s', 'admin:promote', '--', person.username], { cwd: dir, encoding: 'utf8', env: quietEnv })
  ensure(run.status === 0, `npm run admin:promote -- ${person.username} makes the first admin`, `${run.stdout}${run.stderr}`)
}

export type ClientRequest = {
  name: string
  type: 'confidential' | 'public'
  redirect_uris: string[]
  post_logout_redirect_uris?: string[]
  grant_types?: ('authorization_code' | 'refresh_token' | 'client_credentials')[]
  skip_consent?: boolean
}

/** An admin registers a client of the OpenID Provider (POST /admin/oauth/clients); its id and secret. */
export async function createClient(base: string, adminToken: string, client: ClientRequest): Promise<{ id: string; secret: string }> {
  const answer = await post(base, '/admin/oauth/clients', client, adminToken)
  const body = (await answer.json()) as { client?: { client_id?: string }; client_secret?: string }
  ensure(
    answer.status === 201 &&
      typeof body.client?.client_id === 'string' &&
      (client.type === 'public' || typeof body.client_secret === 'string'),
    `the admin registers the ${client.type} client "${client.name}" (${answer.status})`,
    JSON.stringify(body),
  )
  return { id: body.client!.client_id!, secret: body.client_secret ?? '' }
}
