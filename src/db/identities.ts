import { and, asc, eq, sql } from 'drizzle-orm'
import { uuidv7 } from '../lib/ids'
import { auditStatement, auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { violatedUniqueColumn } from './errors'
import { identities, type UserRow, users } from './schema'
import { anotherWayIn } from './sign-in-methods'
import { findTakenFields, normaliseEmail, normaliseUsername, takenFieldOf } from './users'

/** What a provider says about the person who signed in there (checked: auth/oauth.ts). */
export type ProviderProfile = {
  provider: string
  subject: string
  email: string | undefined
  /** Only the provider's JSON boolean `true` counts. */
  emailVerified: boolean
  username: string | undefined
}

export type ResolvedAccount =
  | { outcome: 'existing' | 'linked' | 'created'; user: UserRow }
  | { outcome: 'account_exists' }
  | { outcome: 'email_not_verified' }

export async function listIdentities(db: Database, userId: string) {
  return db.select().from(identities).where(eq(identities.userId, userId)).orderBy(asc(identities.id)).all()
}

/** The account a provider identity is linked to, if any. */
export async function findIdentityHolder(db: Database, profile: Pick<ProviderProfile, 'provider' | 'subject'>) {
  const row = await db
    .select({ userId: identities.userId })
    .from(identities)
    .where(and(eq(identities.provider, profile.provider), eq(identities.subject, profile.subject)))
    .get()
  return row?.userId
}

/** The account's link to one provider identity. */
export async function findIdentityOf(db: Database, input: { userId: string; provider: string; subject: string }) {
  return db
    .select()
    .from(identities)
    .where(and(eq(identities.userId, input.userId), eq(identities.provider, input.provider), eq(identities.subject, input.subject)))
    .get()
}

/**
 * The account a provider sign-in reaches, by the contract's rules: the account linked to this
 * provider identity; else, when the provider vouches for the address and an account has it
 * verified, that account (linked now); else, when the provider vouches for it and no account has
 * it, a new one (no password, the address verified); else nothing is written: `email_not_verified`
 * when no account holds the address, `account_exists` when one does. Never an account whose
 * address is unverified, and never a new account for an address nobody vouched for: either would
 * hand the address's real owner an account someone else already holds a way into.
 */
export async function resolveProviderAccount(db: Database, profile: ProviderProfile, client: Client, now: Date): Promise<ResolvedAccount> {
  const linked = await db
    .select({ identity: identities, user: users })
    .from(identities)
    .innerJoin(users, eq(users.id, identities.userId))
    .where(and(eq(identities.provider, profile.provider), eq(identities.subject, profile.subject)))
    .get()
  if (linked) {
    await db
      .update(identities)
      .set({ lastUsedAt: now, email: profile.email ?? linked.identity.email })
      .where(eq(identities.id, linked.identity.id))
    return { outcome: 'existing', user: linked.user }
  }
  const email = profile.email ? normaliseEmail(profile.email) : undefined
  const holder = email ? await db.select().from(users).where(eq(users.email, email)).get() : undefined
  // An address held for a pending revert belongs to its old owner for now.
  const held = holder !== undefined || (email !== undefined && (await findTakenFields(db, { email })).includes('email'))
  if (!email || !profile.emailVerified) return { outcome: held ? 'account_exists' : 'email_not_verified' }
  if (holder) {
    if (!holder.emailVerified) return { outcome: 'account_exists' }
    const linkedNow = await linkIdentity(db, { userId: holder.id, profile, client, now })
    return linkedNow === 'linked' ? { outcome: 'linked', user: holder } : { outcome: 'account_exists' }
  }
  if (held) return { outcome: 'account_exists' }
  for (const username of candidateUsernames(profile)) {
    const created = await createProviderAccount(db, { username, email, profile, client, now })
    if (created !== 'username_taken') return created
  }
  return { outcome: 'account_exists' }
}

/** The provider's username made valid here, then with short random suffixes until one is free. */
function* candidateUsernames(profile: ProviderProfile) {
  const raw = profile.username ?? profile.email?.split('@')[0] ?? 'user'
  let base = raw.replace(/[^A-Za-z0-9_.-]/g, '').replace(/^[^A-Za-z0-9]+/, '')
  if (base.length < 3) base = `${base}user`.slice(0, 8)
  base = base.slice(0, 26)
  yield base
  for (let i = 0; i < 5; i++) yield `${base}-${crypto.getRandomValues(new Uint16Array(1))[0]?.toString(36) ?? i}`
}

async function createProviderAccount(
  db: Database,
  input: { username: string; email: string; profile: ProviderProfile; client: Client; now: Date },
): Promise<ResolvedAccount | 'username_taken'> {
  const { now, profile } = input
  const id = uuidv7(now.getTime())
  try {
    const [[user]] = await db.batch([
      db
        .insert(users)
        .values({
          id,
          username: input.username,
          usernameNormalized: normaliseUsername(input.username),
          email: input.email,
          // Only an address the provider vouched for gets here.
          emailVerified: true,
          passwordHash: null,
          createdAt: now,
          updatedAt: now,
        })
        .returning(),
      db.insert(identities).values({
        id: uuidv7(now.getTime()),
        userId: id,
        provider: profile.provider,
        subject: profile.subject,
        email: profile.email ?? null,
        createdAt: now,
        lastUsedAt: now,
      }),
      auditStatement(
        db,
        { action: 'user.signup', actorId: id, targetId: id, details: { method: 'provider', provider: profile.provider } },
        input.client,
        now,
      ),
      auditStatement(
        db,
        { action: 'user.identity_linked', actorId: id, targetId: id, details: { provider: profile.provider } },
        input.client,
        now,
      ),
    ])
    return user ? { outcome: 'created', user } : { outcome: 'account_exists' }
  } catch (error) {
    const taken = takenFieldOf(error)
    if (taken === 'username') return 'username_taken'
    // The address or this identity was taken meanwhile (a simultaneous sign-in).
    if (taken === 'email' || violatedUniqueColumn(error)?.startsWith('identities.')) return { outcome: 'account_exists' }
    throw error
  }
}

/**
 * Links a provider identity to an account, with its event. `taken` when the identity is linked
 * to another account already; `linked` also when it was this account's.
 */
export async function linkIdentity(
  db: Database,
  input: { userId: string; profile: ProviderProfile; client: Client; now: Date },
): Promise<'linked' | 'taken'> {
  const { profile, now } = input
  const id = uuidv7(now.getTime())
  const [inserted] = await db.batch([
    db
      .insert(identities)
      .values({
        id,
        userId: input.userId,
        provider: profile.provider,
        subject: profile.subject,
        email: profile.email ?? null,
        createdAt: now,
        lastUsedAt: now,
      })
      .onConflictDoNothing()
      .returning({ id: identities.id }),
    auditStatementWhen(
      db,
      { action: 'user.identity_linked', actorId: input.userId, targetId: input.userId, details: { provider: profile.provider } },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM identities WHERE id = ${id})`,
    ),
  ])
  if (inserted.length > 0) return 'linked'
  const existing = await db
    .select({ userId: identities.userId })
    .from(identities)
    .where(and(eq(identities.provider, profile.provider), eq(identities.subject, profile.subject)))
    .get()
  return existing?.userId === input.userId ? 'linked' : 'taken'
}

/** Unlinks one of the account's identities, with its event, unless it is the last way to sign in. */
export async function unlinkIdentity(
  db: Database,
  input: { userId: string; id: string; client: Client; now: Date },
): Promise<'removed' | 'not_found' | 'last_sign_in_method'> {
  const { userId, id, now } = input
  const wayIn = anotherWayIn(userId, { identityId: id })
  const [, removed] = await db.batch([
    auditStatementWhen(
      db,
      { action: 'user.identity_unlinked', actorId: userId, targetId: userId, details: { identity_id: id } },
      input.client,
      now,
      sql`EXISTS (SELECT 1 FROM identities WHERE id = ${id} AND user_id = ${userId}) AND ${wayIn}`,
    ),
    db
      .delete(identities)
      .where(and(eq(identities.id, id), eq(identities.userId, userId), wayIn))
      .returning({ id: identities.id }),
  ])
  if (removed.length > 0) return 'removed'
  const exists = await db
    .select({ id: identities.id })
    .from(identities)
    .where(and(eq(identities.id, id), eq(identities.userId, userId)))
    .get()
  return exists ? 'last_sign_in_method' : 'not_found'
}
