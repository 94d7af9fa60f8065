import { and, desc, eq, getTableColumns, gt, isNotNull, isNull, max, type SQL, sql } from 'drizzle-orm'
import { auditStatement, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { oauthClients, oauthConsents, oauthGrants, sessions, users } from './schema'

/*
 * The OpenID Provider's grants and consents. A grant is born pending with its code; the code's
 * exchange and every refresh are one conditional UPDATE each, so of two simultaneous uses exactly
 * one matches. A grant given in a browser session lives only while that session does, unless it
 * is offline (offline_access).
 */

/**
 * The grant's account is not disabled: a disabled account's grants neither exchange nor rotate
 * (nor come back to life when it is enabled: disabling ends them).
 */
const accountEnabled = sql`EXISTS (SELECT 1 FROM users WHERE users.id = ${oauthGrants.userId} AND users.disabled = 0)`

type NewGrant = Omit<typeof oauthGrants.$inferInsert, 'codeUsedAt' | 'refreshTokenHash' | 'rotations'>

/** The browser session a grant depends on is still live (or the grant is offline). */
const sessionHoldsAt = (now: Date) =>
  sql`(${oauthGrants.offline} = 1 OR EXISTS (SELECT 1 FROM ${sessions} WHERE ${sessions.id} = ${oauthGrants.sessionId} AND ${sessions.expiresAt} > ${now.getTime()}))`

/**
 * A pending grant and its code; with `consent`, the consent to these scopes is remembered in the
 * same batch (and audited when the person was asked; a skip_consent client's is remembered silently,
 * so Apps with access lists it).
 */
export async function createGrant(
  db: Database,
  input: { grant: NewGrant; consent?: { scopes: string[]; asked: boolean }; client: Client; now: Date },
) {
  const { grant, consent, now } = input
  const insert = db.insert(oauthGrants).values(grant)
  if (!consent) {
    await insert
    return
  }
  const remember = db
    .insert(oauthConsents)
    .values({ userId: grant.userId, clientId: grant.clientId, scopes: consent.scopes, createdAt: now, updatedAt: now })
    .onConflictDoUpdate({ target: [oauthConsents.userId, oauthConsents.clientId], set: { scopes: consent.scopes, updatedAt: now } })
  if (!consent.asked) {
    await db.batch([insert, remember])
    return
  }
  const event = {
    action: 'oauth.consent_granted' as const,
    actorId: grant.userId,
    targetId: grant.userId,
    details: { client_id: grant.clientId, scope: consent.scopes.join(' ') },
  }
  await db.batch([insert, remember, auditStatement(db, event, input.client, now)])
}

export function findConsent(db: Database, userId: string, clientId: string) {
  return db
    .select()
    .from(oauthConsents)
    .where(and(eq(oauthConsents.userId, userId), eq(oauthConsents.clientId, clientId)))
    .get()
}

/**
 * Spends a code: the grant takes its first refresh token's hash (or none) and is marked used, only
 * while the code is unused, unexpired, the client's, for this redirect URI and PKCE challenge, and
 * its session holds; the user is read back in the same batch. Undefined when nothing matched.
 */
export async function redeemCode(
  db: Database,
  input: {
    /** The grant the code names (its refresh token names it too). */
    grantId: string
    codeHash: string
    clientId: string
    redirectUri: string
    codeChallenge: string
    refreshTokenHash: string | null
    /**
     * For an exchange that names no resource: the grant must name none, or one of these (the
     * resources this server serves now), so the write holds only where the token's audience is
     * already settled and the code is never spent by an exchange then refused.
     */
    servable?: string[]
    now: Date
  },
) {
  const { now } = input
  const [[grant], [user]] = await db.batch([
    db
      .update(oauthGrants)
      .set({ codeUsedAt: now, refreshTokenHash: input.refreshTokenHash, lastUsedAt: now })
      .where(
        and(
          eq(oauthGrants.id, input.grantId),
          eq(oauthGrants.codeHash, input.codeHash),
          isNull(oauthGrants.codeUsedAt),
          gt(oauthGrants.codeExpiresAt, now),
          eq(oauthGrants.clientId, input.clientId),
          eq(oauthGrants.redirectUri, input.redirectUri),
          eq(oauthGrants.codeChallenge, input.codeChallenge),
          input.servable
            ? sql`(json_array_length(${oauthGrants.resources}) = 0 OR (json_array_length(${oauthGrants.resources}) = 1 AND json_extract(${oauthGrants.resources}, '$[0]') IN ${input.servable}))`
            : undefined,
          sessionHoldsAt(now),
          accountEnabled,
        ),
      )
      .returning(),
    db
      .select(getTableColumns(users))
      .from(users)
      .innerJoin(oauthGrants, eq(oauthGrants.userId, users.id))
      .where(and(eq(oauthGrants.codeHash, input.codeHash), eq(oauthGrants.codeUsedAt, now))),
  ])
  return grant && user ? { grant, user } : undefined
}

/** A code's grant whatever its state: to tell a replayed code (used already) from a wrong one. */
export function findGrantByCode(db: Database, codeHash: string) {
  return db.select().from(oauthGrants).where(eq(oauthGrants.codeHash, codeHash)).get()
}

/** Rotates a grant's refresh token, like a session's (db/sessions.ts rotateRefreshToken), for one client. */
export async function rotateGrantToken(
  db: Database,
  input: { grantId: string; clientId: string; oldHash: string; newHash: string; now: Date },
) {
  const { now } = input
  const [[grant], [user]] = await db.batch([
    db
      .update(oauthGrants)
      .set({ refreshTokenHash: input.newHash, lastUsedAt: now, rotations: sql`${oauthGrants.rotations} + 1` })
      .where(
        and(
          eq(oauthGrants.id, input.grantId),
          eq(oauthGrants.clientId, input.clientId),
          eq(oauthGrants.refreshTokenHash, input.oldHash),
          gt(oauthGrants.expiresAt, now),
          sessionHoldsAt(now),
          accountEnabled,
        ),
      )
      .returning(),
    db
      .select(getTableColumns(users))
      .from(users)
      .innerJoin(oauthGrants, eq(oauthGrants.userId, users.id))
      .where(and(eq(oauthGrants.id, input.grantId), eq(oauthGrants.refreshTokenHash, input.newHash))),
  ])
  return grant && user ? { grant, user } : undefined
}

/** Takes back a rotation whose request was then refused (a wider scope, another resource): the presented token is current again. */
export async function unrotateGrantToken(db: Database, input: { grantId: string; fromHash: string; toHash: string }) {
  await db
    .update(oauthGrants)
    .set({ refreshTokenHash: input.toHash, rotations: sql`${oauthGrants.rotations} - 1` })
    .where(and(eq(oauthGrants.id, input.grantId), eq(oauthGrants.refreshTokenHash, input.fromHash)))
}

/** A grant by id, whatever its state (a presented refresh token that is not current is judged against it). */
export function findGrant(db: Database, grantId: string) {
  return db.select().from(oauthGrants).where(eq(oauthGrants.id, grantId)).get()
}

/**
 * A grant that still stands, with its user: unexpired, exchanged, its session live (or offline),
 * the account enabled. What userinfo and introspection ask before believing an access token.
 */
export function findLiveGrant(db: Database, grantId: string, now: Date) {
  return db
    .select({ grant: oauthGrants, user: users })
    .from(oauthGrants)
    .innerJoin(users, eq(users.id, oauthGrants.userId))
    .where(
      and(
        eq(oauthGrants.id, grantId),
        gt(oauthGrants.expiresAt, now),
        isNotNull(oauthGrants.codeUsedAt),
        eq(users.disabled, false),
        sessionHoldsAt(now),
      ),
    )
    .get()
}

/** Ends one grant with an event (a replayed code or refresh token, a client's revocation). */
export async function endGrant(
  db: Database,
  input: {
    grantId: string
    userId: string
    action: 'oauth.code_replayed' | 'oauth.refresh_reuse_detected' | 'oauth.grant_revoked'
    actorId: string | null
    client: Client
    now: Date
  },
): Promise<boolean> {
  const grant = eq(oauthGrants.id, input.grantId)
  const [, deleted] = await db.batch([
    auditStatementWhen(
      db,
      {
        action: input.action,
        actorId: input.actorId,
        targetId: input.userId,
        details: { grant_id: input.grantId },
      },
      input.client,
      input.now,
      sql`EXISTS (SELECT 1 FROM oauth_grants WHERE ${grant})`,
    ),
    db.delete(oauthGrants).where(grant).returning({ id: oauthGrants.id }),
  ])
  return deleted.length > 0
}

/** A person's consents with their clients' names and when a grant under each was last used. */
export function listConsents(db: Database, userId: string) {
  return db
    .select({
      clientId: oauthConsents.clientId,
      clientName: oauthClients.name,
      scopes: oauthConsents.scopes,
      createdAt: oauthConsents.createdAt,
      lastUsedAt: sql<number | null>`(SELECT ${max(oauthGrants.lastUsedAt)} FROM ${oauthGrants} WHERE ${and(
        eq(oauthGrants.userId, userId),
        eq(oauthGrants.clientId, oauthConsents.clientId),
      )})`,
    })
    .from(oauthConsents)
    .innerJoin(oauthClients, eq(oauthClients.id, oauthConsents.clientId))
    .where(eq(oauthConsents.userId, userId))
    .orderBy(desc(oauthConsents.createdAt), desc(oauthConsents.clientId))
}

/**
 * A person withdraws a client's access: the consent and every grant under it (so every refresh
 * token, and every access token at userinfo and introspection), with the event. False when the
 * person had neither.
 */
export async function revokeConsent(db: Database, input: { userId: string; clientId: string; client: Client; now: Date }) {
  const consent = and(eq(oauthConsents.userId, input.userId), eq(oauthConsents.clientId, input.clientId))
  const grants = and(eq(oauthGrants.userId, input.userId), eq(oauthGrants.clientId, input.clientId))
  const [, consents, grantsEnded] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'oauth.grant_revoked', actorId: input.userId, targetId: input.userId, details: { client_id: input.clientId } },
      input.client,
      input.now,
      sql`EXISTS (SELECT 1 FROM oauth_consents WHERE ${consent}) OR EXISTS (SELECT 1 FROM oauth_grants WHERE ${grants})`,
    ),
    db.delete(oauthConsents).where(consent).returning({ clientId: oauthConsents.clientId }),
    db.delete(oauthGrants).where(grants).returning({ id: oauthGrants.id }),
  ])
  return consents.length > 0 || grantsEnded.length > 0
}

/**
 * Every grant a person gave, offline ones included, ended in the same batch as an event that ends
 * their sessions (a password reset or change, an address reverted, a first second factor, an
 * admin's sign-out or disabling): whoever held the account before must not keep an app's access.
 */
export const endGrantsOf = (db: Database, userId: string, condition?: SQL) =>
  db
    .delete(oauthGrants)
    .where(and(eq(oauthGrants.userId, userId), condition))
    .returning({ id: oauthGrants.id })
