import { and, asc, eq, gt, isNull, ne, sql } from 'drizzle-orm'
import { uuidv7 } from '../lib/ids'
import { auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { violatedUniqueColumn } from './errors'
import { insertRecoveryCodes } from './factors'
import { endGrantsOf } from './oauth-grants'
import { type PasskeyCeremony, passkeyChallenges, passkeys, recoveryCodes, sessions, users } from './schema'
import { anotherWayIn } from './sign-in-methods'

/** A verified credential to store: the public key as a JWK (JSON) with its `alg`. */
export type StoredCredential = { credentialId: string; publicKey: string; counter: number; backedUp: boolean; transports: string[] }

/** How many passkeys one account may hold. */
export const MAX_PASSKEYS = 10

/** The account's credentials as a ceremony's options name them (to exclude, or to allow). */
export const credentialDescriptors = (rows: { credentialId: string; transports: string[] | null }[]) =>
  rows.map((row) => ({ credentialId: row.credentialId, transports: row.transports }))

export async function listPasskeys(db: Database, userId: string) {
  return db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.id)).all()
}

/** A credential by the id its authenticator gave it, with its account. */
export async function findPasskeyByCredentialId(db: Database, credentialId: string) {
  return db
    .select({ passkey: passkeys, user: users })
    .from(passkeys)
    .innerJoin(users, eq(users.id, passkeys.userId))
    .where(eq(passkeys.credentialId, credentialId))
    .get()
}

/** A challenge to hand out with a ceremony's options: 5 minutes, single use. */
export async function createPasskeyChallenge(
  db: Database,
  input: { challenge: string; ceremony: PasskeyCeremony; userId: string | null; boundTo: string | null; ttlSeconds: number; now: Date },
): Promise<string> {
  const id = uuidv7(input.now.getTime())
  await db.insert(passkeyChallenges).values({
    id,
    challenge: input.challenge,
    ceremony: input.ceremony,
    userId: input.userId,
    boundTo: input.boundTo,
    createdAt: input.now,
    expiresAt: new Date(input.now.getTime() + input.ttlSeconds * 1000),
  })
  return id
}

/**
 * Uses a challenge up, whatever the answer turns out to be: one conditional write, so it is
 * answered at most once even by simultaneous requests. It must be the ceremony's, unexpired, and
 * made for this account and this session or sign-in step (`userId` null: a passwordless sign-in's,
 * made for no account). Returns the challenge's bytes (base64url), or undefined.
 */
export async function takePasskeyChallenge(
  db: Database,
  input: { id: string; ceremony: PasskeyCeremony; userId: string | null; boundTo: string | null; now: Date },
): Promise<string | undefined> {
  const [row] = await db
    .update(passkeyChallenges)
    .set({ usedAt: input.now })
    .where(
      and(
        eq(passkeyChallenges.id, input.id),
        eq(passkeyChallenges.ceremony, input.ceremony),
        input.userId === null ? isNull(passkeyChallenges.userId) : eq(passkeyChallenges.userId, input.userId),
        input.boundTo === null ? isNull(passkeyChallenges.boundTo) : eq(passkeyChallenges.boundTo, input.boundTo),
        isNull(passkeyChallenges.usedAt),
        gt(passkeyChallenges.expiresAt, input.now),
      ),
    )
    .returning({ challenge: passkeyChallenges.challenge })
  return row?.challenge
}

export type AddedPasskey =
  | { outcome: 'added'; passkey: typeof passkeys.$inferSelect; codesWritten: boolean }
  | { outcome: 'limit' }
  | { outcome: 'exists' }

/**
 * Stores a verified credential, with its event, in one batch: refused past MAX_PASSKEYS, and
 * (`exists`) when the credential is registered already, to anyone. When it is the account's first
 * second factor, `codeHashes` become its recovery codes and every other session of the account
 * ends, in the same batch (only if the passkey was written and no other factor appeared meanwhile).
 */
export async function addPasskey(
  db: Database,
  input: {
    userId: string
    credential: StoredCredential
    name: string
    codeHashes?: string[]
    /** The session that registers it: the only one left when this is the account's first second factor. */
    keepSessionId: string
    client: Client
    now: Date
  },
): Promise<AddedPasskey> {
  const { userId, credential, now } = input
  const id = uuidv7(now.getTime())
  const room = sql`(SELECT count(*) FROM passkeys WHERE user_id = ${userId}) < ${MAX_PASSKEYS}`
  const added = sql`EXISTS (SELECT 1 FROM passkeys WHERE id = ${id})`
  const onlyFactor = sql`${added} AND (SELECT count(*) FROM passkeys WHERE user_id = ${userId}) = 1
    AND NOT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = ${userId} AND confirmed_at IS NOT NULL)`
  const insert = db.insert(passkeys).select(
    db
      .select({
        id: sql<string>`${id}`.as('id'),
        userId: sql<string>`${userId}`.as('user_id'),
        credentialId: sql<string>`${credential.credentialId}`.as('credential_id'),
        publicKey: sql<string>`${credential.publicKey}`.as('public_key'),
        counter: sql<number>`${credential.counter}`.as('counter'),
        transports: sql<string>`${JSON.stringify(credential.transports)}`.as('transports'),
        backedUp: sql<number>`${credential.backedUp ? 1 : 0}`.as('backed_up'),
        name: sql<string>`${input.name}`.as('name'),
        createdAt: sql<number>`${now.getTime()}`.as('created_at'),
        lastUsedAt: sql<null>`NULL`.as('last_used_at'),
        usedBy: sql<null>`NULL`.as('used_by'),
      })
      .from(sql`(SELECT 1)`)
      .where(room),
  )
  const codes = input.codeHashes
    ? [
        db.delete(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), onlyFactor)),
        ...insertRecoveryCodes(db, userId, input.codeHashes, now, onlyFactor),
        db.delete(sessions).where(and(eq(sessions.userId, userId), ne(sessions.id, input.keepSessionId), onlyFactor)),
        endGrantsOf(db, userId, onlyFactor),
      ]
    : []
  try {
    await db.batch([
      insert,
      ...codes,
      auditStatementWhen(
        db,
        { action: 'user.passkey_added', actorId: userId, targetId: userId, details: { passkey_id: id } },
        input.client,
        now,
        added,
      ),
    ])
  } catch (error) {
    if (violatedUniqueColumn(error) === 'passkeys.credential_id') return { outcome: 'exists' }
    throw error
  }
  const [row, code] = await Promise.all([
    db.select().from(passkeys).where(eq(passkeys.id, id)).get(),
    // The codes were written only if this stayed the only factor (a racing registration or TOTP
    // confirmation may have won): the caller shows them only then.
    input.codeHashes?.[0]
      ? db
          .select({ id: recoveryCodes.id })
          .from(recoveryCodes)
          .where(and(eq(recoveryCodes.userId, userId), eq(recoveryCodes.codeHash, input.codeHashes[0])))
          .get()
      : undefined,
  ])
  return row ? { outcome: 'added', passkey: row, codesWritten: code !== undefined } : { outcome: 'limit' }
}

export async function renamePasskey(db: Database, input: { userId: string; id: string; name: string }) {
  const [row] = await db
    .update(passkeys)
    .set({ name: input.name })
    .where(and(eq(passkeys.id, input.id), eq(passkeys.userId, input.userId)))
    .returning()
  return row
}

/**
 * Removes one of the account's passkeys, with its event, unless it is the last way to sign in
 * (no password, no other passkey, no linked identity). When it was the last second factor the
 * recovery codes go with it, and sessions that stood on a passkey drop to `aal1` (their `amr`
 * loses `mfa`); sessions that also used a code keep what that proves.
 */
export async function removePasskey(
  db: Database,
  input: { userId: string; id: string; client: Client; now: Date },
): Promise<'removed' | 'not_found' | 'last_sign_in_method'> {
  const { userId, id, now } = input
  const wayIn = anotherWayIn(userId, { passkeyId: id })
  const removable = sql`EXISTS (SELECT 1 FROM passkeys WHERE id = ${id} AND user_id = ${userId}) AND ${wayIn}`
  const noFactorLeft = sql`NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = ${userId})
    AND NOT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = ${userId} AND confirmed_at IS NOT NULL)`
  const [, removed] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'user.passkey_removed', actorId: userId, targetId: userId, details: { passkey_id: id } },
      input.client,
      now,
      removable,
    ),
    db
      .delete(passkeys)
      .where(and(eq(passkeys.id, id), eq(passkeys.userId, userId), wayIn))
      .returning({ id: passkeys.id }),
    db.delete(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), noFactorLeft)),
    db
      .update(sessions)
      .set({
        aal: 'aal1',
        amr: sql`(SELECT json_group_array(value) FROM json_each(${sessions.amr}) WHERE value <> 'mfa')`,
      })
      .where(
        and(
          eq(sessions.userId, userId),
          sql`NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = ${userId})`,
          sql`EXISTS (SELECT 1 FROM json_each(${sessions.amr}) WHERE value = 'hwk')`,
          sql`NOT EXISTS (SELECT 1 FROM json_each(${sessions.amr}) WHERE value IN ('otp', 'rc'))`,
        ),
      ),
  ])
  if (removed.length > 0) return 'removed'
  const exists = await db
    .select({ id: passkeys.id })
    .from(passkeys)
    .where(and(eq(passkeys.id, id), eq(passkeys.userId, userId)))
    .get()
  return exists ? 'last_sign_in_method' : 'not_found'
}

/**
 * A passkey's use inside the batch that acts on it (a session opened, a session re-authenticated):
 * the counter's compare-and-set, which also marks the passkey with this request's own `marker`,
 * and the guard that holds only where it did. Of two assertions read against the same stored
 * counter, one advances it; the other's batch finds another mark and opens nothing. A synced
 * passkey's counter stays 0, so each of its uses sets it, as each must.
 */
export function usePasskeyInBatch(
  db: Database,
  input: { id: string; readCounter: number; counter: number; backedUp: boolean; marker: string; now: Date },
) {
  const statement = db
    .update(passkeys)
    .set({ counter: input.counter, backedUp: input.backedUp, lastUsedAt: input.now, usedBy: input.marker })
    .where(and(eq(passkeys.id, input.id), eq(passkeys.counter, input.readCounter)))
  const guard = sql`EXISTS (SELECT 1 FROM passkeys WHERE id = ${input.id} AND used_by = ${input.marker})`
  return { statement, guard }
}
