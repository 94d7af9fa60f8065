import { and, asc, eq, getTableColumns, gt, gte, isNull, lt, ne, or, type SQL, sql } from 'drizzle-orm'
import type { Role } from '../auth/roles'
import { memoize } from '../lib/memo'
import { auditStatement, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { violatedUniqueColumn } from './errors'
import { endGrantsOf } from './oauth-grants'
import { oneTimeTokens, sessions, type UserRow, users } from './schema'
import type { ProofWrite, Rehash } from './sessions'

export const normaliseUsername = (username: string) => username.toLowerCase()
export const normaliseEmail = (email: string) => email.trim().toLowerCase()

export type UniqueField = 'username' | 'email'

/** Which of a username and an email already belong to an account (other than `exceptUserId`). */
export async function findTakenFields(
  db: Database,
  candidate: { username?: string; email?: string },
  exceptUserId?: string,
): Promise<UniqueField[]> {
  const conditions = []
  if (candidate.username !== undefined) conditions.push(eq(users.usernameNormalized, normaliseUsername(candidate.username)))
  if (candidate.email !== undefined) conditions.push(eq(users.email, normaliseEmail(candidate.email)))
  if (conditions.length === 0) return []
  const email = candidate.email !== undefined ? normaliseEmail(candidate.email) : undefined
  const [rows, held] = await Promise.all([
    db
      .select({ id: users.id, usernameNormalized: users.usernameNormalized, email: users.email })
      .from(users)
      .where(or(...conditions)),
    // An address given up by a change its old owner can still revert is held for them until the
    // revert link expires: otherwise a sign-up with it would make the revert impossible.
    email === undefined
      ? Promise.resolve(undefined)
      : db
          .select({ userId: oneTimeTokens.userId })
          .from(oneTimeTokens)
          .where(
            and(
              // As a constant, so SQLite can use the partial index (schema.ts mail_tokens_revert_address_idx).
              sql`${oneTimeTokens.purpose} = 'email_revert'`,
              eq(oneTimeTokens.boundTo, email),
              isNull(oneTimeTokens.usedAt),
              gt(oneTimeTokens.expiresAt, new Date()),
            ),
          )
          .get(),
  ])
  const taken = new Set<UniqueField>()
  if (held && held.userId !== exceptUserId) taken.add('email')
  for (const row of rows) {
    if (row.id === exceptUserId) continue
    if (candidate.username !== undefined && row.usernameNormalized === normaliseUsername(candidate.username)) taken.add('username')
    if (candidate.email !== undefined && row.email === normaliseEmail(candidate.email)) taken.add('email')
  }
  return [...taken].sort()
}

/** The unique field a failed write collided with, when the database refused it for that reason. */
export function takenFieldOf(error: unknown): UniqueField | undefined {
  const column = violatedUniqueColumn(error)
  if (column === 'users.username_normalized') return 'username'
  if (column === 'users.email') return 'email'
  return undefined
}

/** What a write that may collide with an existing username or email comes back with: the row, or which field was taken (neither: no such user). */
export type UniqueWrite = { user?: UserRow; taken?: UniqueField }

/** Turns a unique-index collision into `taken`; any other failure is rethrown. */
export async function guardUnique(write: () => Promise<UserRow | undefined>): Promise<UniqueWrite> {
  try {
    return { user: await write() }
  } catch (error) {
    const taken = takenFieldOf(error)
    if (taken) return { taken }
    throw error
  }
}

/** A new account and its `user.signup` event, in one batch. */
export function createUser(
  db: Database,
  input: { id: string; username: string; email: string; passwordHash: string; client: Client; now: Date },
): Promise<UniqueWrite> {
  const { id, now } = input
  return guardUnique(async () => {
    const [[user]] = await db.batch([
      db
        .insert(users)
        .values({
          id,
          username: input.username,
          usernameNormalized: normaliseUsername(input.username),
          email: normaliseEmail(input.email),
          passwordHash: input.passwordHash,
          createdAt: now,
          updatedAt: now,
        })
        .returning(),
      auditStatement(db, { action: 'user.signup', actorId: id, targetId: id }, input.client, now),
    ])
    return user
  })
}

export type LoginIdentifier = { kind: 'email' | 'username'; value: string }

/**
 * A login identifier is an email when it holds an "@" (usernames cannot), else a username; either
 * way in the normalised form the unique index holds, whether or not such an account exists.
 */
export function normaliseLoginIdentifier(identifier: string): LoginIdentifier {
  const trimmed = identifier.trim()
  return trimmed.includes('@') ? { kind: 'email', value: normaliseEmail(trimmed) } : { kind: 'username', value: normaliseUsername(trimmed) }
}

/** A user's columns, and whether the account has a second factor (an active TOTP factor or a passkey). */
const loginColumns = {
  ...getTableColumns(users),
  // Qualified by hand: drizzle writes a bare "id", which inside the passkeys subquery would be passkeys.id.
  secondFactor: sql<number>`(EXISTS (SELECT 1 FROM totp_factors WHERE totp_factors.user_id = "users"."id" AND totp_factors.confirmed_at IS NOT NULL)
    OR EXISTS (SELECT 1 FROM passkeys WHERE passkeys.user_id = "users"."id"))`,
}
const userByEmail = memoize((db: Database) =>
  db
    .select(loginColumns)
    .from(users)
    .where(eq(users.email, sql.placeholder('value')))
    .prepare(),
)
const userByUsername = memoize((db: Database) =>
  db
    .select(loginColumns)
    .from(users)
    .where(eq(users.usernameNormalized, sql.placeholder('value')))
    .prepare(),
)

export type LoginAccount = UserRow & { secondFactor: boolean }

/**
 * A login's account, and whether it has a second factor: in the same query, so a login that needs
 * no second step pays no extra round trip to learn it.
 */
export async function findUserByLogin(db: Database, identifier: LoginIdentifier): Promise<LoginAccount | undefined> {
  const query = identifier.kind === 'email' ? userByEmail(db) : userByUsername(db)
  const row = await query.get({ value: identifier.value })
  return row && { ...row, secondFactor: Boolean(row.secondFactor) }
}

/** Holds while the account's password is still the hash a proof was checked against. */
export const passwordStillIs = (checkedHash: string) => eq(users.passwordHash, checkedHash)

/**
 * What a checked password adds to the write that acts on it: that write only while the password
 * is still the one checked, and the account's last_auth_at (which ends its failure streak at the
 * limiter's next admission; with last_login_at for a login), with the re-hash when one is due,
 * under the same guard.
 */
export function passwordSignIn(
  db: Database,
  input: { userId: string; checkedHash: string; newHash?: string; now: Date; login: boolean; when?: SQL },
): ProofWrite {
  const { now, newHash } = input
  const guard = passwordStillIs(input.checkedHash)
  const marks = input.login ? { lastLoginAt: now, lastAuthAt: now } : { lastAuthAt: now }
  return {
    guard,
    records: [
      db
        .update(users)
        .set(newHash ? { ...marks, passwordHash: newHash, updatedAt: now } : marks)
        .where(and(eq(users.id, input.userId), guard, input.when)),
    ],
    rehash: newHash ? { userId: input.userId, checkedHash: input.checkedHash, newHash } : undefined,
  }
}

/**
 * What a proof that is not a password (a passkey) adds to the write that acts on it: the
 * account's last_auth_at (and last_login_at for a sign-in), with no guard.
 */
export function proofSignIn(db: Database, input: { userId: string; now: Date; login: boolean; when?: SQL }): ProofWrite {
  const marks = input.login ? { lastLoginAt: input.now, lastAuthAt: input.now } : { lastAuthAt: input.now }
  return {
    guard: undefined,
    records: [
      db
        .update(users)
        .set(marks)
        .where(and(eq(users.id, input.userId), input.when)),
    ],
  }
}

/** Stores a password again under today's parameters, only while it is still the hash that was checked. */
export async function rehashPassword(db: Database, rehash: Rehash): Promise<void> {
  await db
    .update(users)
    .set({ passwordHash: rehash.newHash })
    .where(and(eq(users.id, rehash.userId), passwordStillIs(rehash.checkedHash)))
}

/** A re-authentication that proved the password without changing anything: it ends the failure streak. */
export async function recordAuthentication(db: Database, userId: string, at: Date): Promise<void> {
  await db.update(users).set({ lastAuthAt: at }).where(eq(users.id, userId))
}

export async function findUserById(db: Database, userId: string): Promise<UserRow | undefined> {
  return db.select().from(users).where(eq(users.id, userId)).get()
}

/**
 * Changes a username and/or starts an address change, with their events. A new address only
 * becomes pending: `email` stays until the new address confirms (db/mail.ts confirmEmailChange).
 */
export function updateProfile(
  db: Database,
  input: { userId: string; username?: string; pendingEmail?: string; client: Client; now: Date },
): Promise<UniqueWrite> {
  const { userId, username, pendingEmail, now } = input
  return guardUnique(async () => {
    const [[user]] = await db.batch([
      db
        .update(users)
        .set({
          ...(username !== undefined ? { username, usernameNormalized: normaliseUsername(username) } : {}),
          ...(pendingEmail !== undefined ? { pendingEmail: normaliseEmail(pendingEmail) } : {}),
          updatedAt: now,
        })
        .where(eq(users.id, userId))
        .returning(),
      ...(username !== undefined
        ? [
            auditStatement(
              db,
              { action: 'user.updated', actorId: userId, targetId: userId, details: { fields: 'username' } },
              input.client,
              now,
            ),
          ]
        : []),
      ...(pendingEmail !== undefined
        ? [auditStatement(db, { action: 'user.email_change_requested', actorId: userId, targetId: userId }, input.client, now)]
        : []),
    ])
    return user
  })
}

/**
 * Sets a new password hash, only while the proof of the current password still holds (`confirmedBy`:
 * the hash it was checked against is still the account's), and then ends every session but the
 * one making the change, with its event. `authAt` is when the current password was proved (see
 * last_auth_at). Returns false when the password changed meanwhile.
 */
export async function changePassword(
  db: Database,
  input: {
    userId: string
    keepSessionId: string
    confirmedBy: SQL | undefined
    passwordHash: string
    authAt: Date
    client: Client
    now: Date
  },
): Promise<boolean> {
  const { userId, now } = input
  const changed = sql`EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND password_hash = ${input.passwordHash})`
  const [updated] = await db.batch([
    db
      .update(users)
      .set({ passwordHash: input.passwordHash, lastAuthAt: input.authAt, updatedAt: now })
      .where(and(eq(users.id, userId), input.confirmedBy))
      .returning({ id: users.id }),
    db.delete(sessions).where(and(eq(sessions.userId, userId), ne(sessions.id, input.keepSessionId), changed)),
    auditStatementWhen(db, { action: 'user.password_changed', actorId: userId, targetId: userId }, input.client, now, changed),
    endGrantsOf(db, userId, changed),
  ])
  return updated.length > 0
}

// Larger than any character that can follow a prefix, so [q, q + this) is "starts with q" as a
// range the unique indexes on username_normalized and email can serve.
const PREFIX_END = '\u{10FFFF}'

export type UserListFilter = {
  limit: number
  after?: string
  /** Lower-cased prefix of a username or an email. */
  prefix?: string
  role?: Role
  disabled?: boolean
}

/** Oldest first, keyset-paged on the time-ordered id: no OFFSET, so a deep page costs what the first does. */
export function listUsers(db: Database, filter: UserListFilter) {
  const prefix = filter.prefix
  return db
    .select()
    .from(users)
    .where(
      and(
        filter.after ? gt(users.id, filter.after) : undefined,
        prefix
          ? or(
              and(gte(users.usernameNormalized, prefix), lt(users.usernameNormalized, prefix + PREFIX_END)),
              and(gte(users.email, prefix), lt(users.email, prefix + PREFIX_END)),
            )
          : undefined,
        filter.role ? eq(users.role, filter.role) : undefined,
        // Repeating a partial index's own condition, as a constant, lets SQLite use it: the rows
        // the filter wants are then all it reads (schema.ts: users_staff_idx, users_disabled_idx).
        filter.role && filter.role !== 'user' ? sql`${users.role} <> 'user'` : undefined,
        filter.disabled !== undefined ? eq(users.disabled, filter.disabled) : undefined,
        filter.disabled === true ? sql`${users.disabled} = 1` : undefined,
      ),
    )
    .orderBy(asc(users.id))
    .limit(filter.limit)
}
