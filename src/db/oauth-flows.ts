import { and, eq, gt, isNull } from 'drizzle-orm'
import type { Database } from './client'
import { oauthFlows } from './schema'

/** A provider flow lives this long from our authorize redirect; the app's code, this long from the callback. */
export const FLOW_TTL_SECONDS = 600
export const CODE_TTL_SECONDS = 60

type Started = {
  stateHash: string
  browserHash: string
  secrets: string
}

/** A sign-in flow, started by a browser at GET /oauth/{provider}/authorize. */
export async function startSignInFlow(
  db: Database,
  input: Started & { id: string; provider: string; redirectUri: string; codeChallenge: string; now: Date },
): Promise<void> {
  const { now } = input
  await db.insert(oauthFlows).values({
    id: input.id,
    provider: input.provider,
    purpose: 'sign_in',
    stateHash: input.stateHash,
    browserHash: input.browserHash,
    secrets: input.secrets,
    redirectUri: input.redirectUri,
    codeChallenge: input.codeChallenge,
    createdAt: now,
    expiresAt: new Date(now.getTime() + FLOW_TTL_SECONDS * 1000),
  })
}

/**
 * A linking flow, made for a signed-in account: a ticket its browser opens at the authorize URL,
 * and the app's PKCE challenge (S256) that the link code's completion must answer.
 */
export async function createLinkFlow(
  db: Database,
  input: { id: string; provider: string; userId: string; ticketHash: string; redirectUri: string; codeChallenge: string; now: Date },
): Promise<void> {
  const { now } = input
  await db.insert(oauthFlows).values({
    id: input.id,
    provider: input.provider,
    purpose: 'link',
    linkUserId: input.userId,
    ticketHash: input.ticketHash,
    redirectUri: input.redirectUri,
    codeChallenge: input.codeChallenge,
    createdAt: now,
    expiresAt: new Date(now.getTime() + FLOW_TTL_SECONDS * 1000),
  })
}

/** The browser that opens a link ticket binds it, once: it gets the state, the cookie and the secrets. */
export async function openLinkFlow(db: Database, input: Started & { ticketHash: string; provider: string; now: Date }) {
  const [row] = await db
    .update(oauthFlows)
    .set({ stateHash: input.stateHash, browserHash: input.browserHash, secrets: input.secrets, ticketHash: null })
    .where(
      and(
        eq(oauthFlows.ticketHash, input.ticketHash),
        eq(oauthFlows.provider, input.provider),
        eq(oauthFlows.purpose, 'link'),
        isNull(oauthFlows.stateHash),
        gt(oauthFlows.expiresAt, input.now),
      ),
    )
    .returning({ id: oauthFlows.id })
  return row !== undefined
}

/** Spends a flow's state at the callback, once, whatever follows: the flow, or undefined. */
export async function takeFlowState(db: Database, input: { stateHash: string; provider: string; now: Date }) {
  const [row] = await db
    .update(oauthFlows)
    .set({ calledBackAt: input.now })
    .where(
      and(
        eq(oauthFlows.stateHash, input.stateHash),
        eq(oauthFlows.provider, input.provider),
        isNull(oauthFlows.calledBackAt),
        gt(oauthFlows.expiresAt, input.now),
      ),
    )
    .returning()
  return row
}

/** The account a sign-in reached, and the app's one-time code for it. */
export async function issueFlowCode(db: Database, input: { id: string; userId: string; codeHash: string; now: Date }): Promise<void> {
  await db
    .update(oauthFlows)
    .set({ userId: input.userId, codeHash: input.codeHash, codeExpiresAt: new Date(input.now.getTime() + CODE_TTL_SECONDS * 1000) })
    .where(eq(oauthFlows.id, input.id))
}

/**
 * A linking flow's provider identity, checked at the callback, and the link code (hash) that lets
 * the account which started the flow complete it; the code lives as long as a flow does.
 */
export async function issueLinkCode(
  db: Database,
  input: { id: string; codeHash: string; profile: Record<string, unknown>; now: Date },
): Promise<void> {
  const expires = new Date(input.now.getTime() + FLOW_TTL_SECONDS * 1000)
  await db
    .update(oauthFlows)
    // The flow's own expiry follows the code's, so the upkeep keeps the row while the code lives.
    .set({ codeHash: input.codeHash, profile: input.profile, codeExpiresAt: expires, expiresAt: expires })
    .where(and(eq(oauthFlows.id, input.id), eq(oauthFlows.purpose, 'link')))
}

/**
 * Spends a one-time code of a flow of this purpose (an app's sign-in code, or a link code), once,
 * whatever follows (a wrong verifier, another account): the flow, or undefined.
 */
export async function takeFlowCode(db: Database, input: { codeHash: string; purpose: 'sign_in' | 'link'; now: Date }) {
  const [row] = await db
    .update(oauthFlows)
    .set({ exchangedAt: input.now })
    .where(
      and(
        eq(oauthFlows.codeHash, input.codeHash),
        eq(oauthFlows.purpose, input.purpose),
        isNull(oauthFlows.exchangedAt),
        gt(oauthFlows.codeExpiresAt, input.now),
      ),
    )
    .returning()
  return row
}
