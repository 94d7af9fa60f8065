import { asc, eq, sql } from 'drizzle-orm'
import { auditStatement, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { type OAuthClientRow, oauthClients } from './schema'

/*
 * The OpenID Provider's clients. Every write is one batch with its audit row, written only when
 * the write finds its client (auditStatementWhen on the row's existence).
 */

type NewClient = Omit<OAuthClientRow, 'createdAt' | 'updatedAt'>

export async function createOAuthClient(db: Database, input: { client: NewClient; actorId: string | null; by: Client; now: Date }) {
  const { client, now } = input
  const [[created]] = await db.batch([
    db
      .insert(oauthClients)
      .values({ ...client, createdAt: now, updatedAt: now })
      .returning(),
    auditStatement(
      db,
      {
        // Registered by anybody (RFC 7591), or by an admin.
        action: client.dynamic ? 'oauth.client_registered' : 'admin.oauth_client_created',
        actorId: input.actorId,
        details: { client_id: client.id, type: client.type },
      },
      input.by,
      now,
    ),
  ])
  if (!created) throw new Error('the insert returned no row')
  return created
}

export function listOAuthClients(db: Database) {
  return db.select().from(oauthClients).orderBy(asc(oauthClients.createdAt), asc(oauthClients.id))
}

export function findOAuthClient(db: Database, clientId: string): Promise<OAuthClientRow | undefined> {
  return db.select().from(oauthClients).where(eq(oauthClients.id, clientId)).get()
}

const exists = (clientId: string) => sql`EXISTS (SELECT 1 FROM oauth_clients WHERE id = ${clientId})`

/** A change of name, redirect URIs or skip_consent; undefined when no such client. */
export async function updateOAuthClient(
  db: Database,
  input: {
    clientId: string
    change: Partial<Pick<OAuthClientRow, 'name' | 'redirectUris' | 'postLogoutRedirectUris' | 'skipConsent'>>
    actorId: string
    by: Client
    now: Date
  },
) {
  const { clientId, now } = input
  const [, [updated]] = await db.batch([
    auditStatementWhen(
      db,
      {
        action: 'admin.oauth_client_updated',
        actorId: input.actorId,
        details: { client_id: clientId, fields: Object.keys(input.change).join(' ') },
      },
      input.by,
      now,
      exists(clientId),
    ),
    db
      .update(oauthClients)
      .set({ ...input.change, updatedAt: now })
      .where(eq(oauthClients.id, clientId))
      .returning(),
  ])
  return updated
}

/** A confidential client's new secret (its hash): the old one stops working in the same write. */
export async function rotateOAuthClientSecret(
  db: Database,
  input: { clientId: string; secretHash: string; actorId: string; by: Client; now: Date },
) {
  const { clientId, now } = input
  const confidential = sql`EXISTS (SELECT 1 FROM oauth_clients WHERE id = ${clientId} AND type = 'confidential')`
  const [, [updated]] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'admin.oauth_client_secret_rotated', actorId: input.actorId, details: { client_id: clientId } },
      input.by,
      now,
      confidential,
    ),
    db
      .update(oauthClients)
      .set({ secretHash: input.secretHash, updatedAt: now })
      .where(sql`${oauthClients.id} = ${clientId} AND ${oauthClients.type} = 'confidential'`)
      .returning(),
  ])
  return updated
}

/** Removes a client (its grants and tokens go with it once they exist: they reference it); false when none. */
export async function removeOAuthClient(
  db: Database,
  input: { clientId: string; actorId: string; by: Client; now: Date },
): Promise<boolean> {
  const { clientId, now } = input
  const [, removed] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'admin.oauth_client_deleted', actorId: input.actorId, details: { client_id: clientId } },
      input.by,
      now,
      exists(clientId),
    ),
    db.delete(oauthClients).where(eq(oauthClients.id, clientId)).returning({ id: oauthClients.id }),
  ])
  return removed.length > 0
}
