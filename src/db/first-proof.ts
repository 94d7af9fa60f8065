import { and, eq, type SQL, sql } from 'drizzle-orm'
import { auditStatementWhen, type Client } from './audit'
import type { Database } from './client'
import { endGrantsOf } from './oauth-grants'
import { identities, oauthFlows, oneTimeTokens, passkeys, recoveryCodes, sessions, totpFactors } from './schema'

/**
 * The first proof of an account's address (a reset or a verification link that marks it verified
 * for the first time) takes back every way in that was added while it was unverified: linked
 * identities, passkeys, the TOTP factor (pending or active), recovery codes, sign-in steps and
 * link flows under way, and every session. Whoever registered or took over the address before its
 * owner proved it keeps nothing (a pre-account takeover), and the owner's own sign-in is what is
 * left. Audited as `user.unverified_methods_removed` with counts, when there was anything to take.
 *
 * The statements go first in the batch that marks the address verified, so they still see it
 * unverified; `when` is that write's own guard (its token spent, the account as the token was
 * read), so they act exactly when it does. Returns them for that batch.
 */
export function removeUnverifiedWaysIn(db: Database, input: { userId: string; when: SQL; client: Client; now: Date }) {
  const { userId, now } = input
  const firstProof = sql`EXISTS (SELECT 1 FROM users WHERE id = ${userId} AND email_verified = 0) AND ${input.when}`
  const counted = (table: string, extra = sql``) => sql`(SELECT count(*) FROM ${sql.identifier(table)} WHERE user_id = ${userId}${extra})`
  const waysIn = sql`${counted('identities')} + ${counted('passkeys')} + ${counted('totp_factors')} + ${counted('recovery_codes')}`
  return [
    auditStatementWhen(
      db,
      { action: 'user.unverified_methods_removed', actorId: userId, targetId: userId },
      input.client,
      now,
      sql`${firstProof} AND ${waysIn} > 0`,
      sql`json_object(
        'identities', ${counted('identities')},
        'passkeys', ${counted('passkeys')},
        'totp', ${counted('totp_factors')},
        'recovery_codes', ${counted('recovery_codes', sql` AND used_at IS NULL`)},
        'sessions', ${counted('sessions', sql` AND expires_at > ${now.getTime()}`)})`,
    ),
    db.delete(identities).where(and(eq(identities.userId, userId), firstProof)),
    db.delete(passkeys).where(and(eq(passkeys.userId, userId), firstProof)),
    db.delete(totpFactors).where(and(eq(totpFactors.userId, userId), firstProof)),
    db.delete(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), firstProof)),
    db.delete(oneTimeTokens).where(and(eq(oneTimeTokens.userId, userId), eq(oneTimeTokens.purpose, 'mfa'), firstProof)),
    db.delete(oauthFlows).where(and(eq(oauthFlows.linkUserId, userId), firstProof)),
    db.delete(sessions).where(and(eq(sessions.userId, userId), firstProof)),
    endGrantsOf(db, userId, firstProof),
  ] as const
}
