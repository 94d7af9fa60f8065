import { z } from 'zod'
import { sha256, toBase64Url } from '../lib/encoding.ts'

export type PublicJwk = { kty: 'OKP'; crv: 'Ed25519'; x: string; kid: string; alg: 'EdDSA'; use: 'sig' }

export type KeySet = {
  /** The first configured key: it signs every new token. */
  signing: { kid: string; key: CryptoKey }
  /** Every configured key verifies, so a rotated-out key keeps its tokens valid until they expire. */
  verifying: ReadonlyMap<string, CryptoKey>
  jwks: PublicJwk[]
}

const ED25519 = { name: 'Ed25519' } as const
const base64Url32 = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a 32-byte base64url value')

const privateJwk = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  d: base64Url32,
  x: base64Url32,
  kid: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ -'),
})

const privateJwks = z.array(privateJwk).min(1, 'must hold at least one key')

type ImportResult = { ok: true; keys: KeySet } | { ok: false; message: string }

/** Parses `JWT_PRIVATE_KEYS` and imports each key; the message never repeats key material. */
export async function importSigningKeys(raw: string | undefined): Promise<ImportResult> {
  if (raw === undefined || raw.trim() === '') {
    return { ok: false, message: 'is not set; run `npm run keys:generate` and store the output as this secret' }
  }
  let json: unknown
  try {
    json = JSON.parse(raw)
  } catch {
    return { ok: false, message: 'is not valid JSON; it must be a JSON array of Ed25519 private JWKs' }
  }
  const parsed = privateJwks.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.length ? ` (at ${issue.path.join('.')})` : ''
    return { ok: false, message: `must be a JSON array of Ed25519 private JWKs with kid${where}: ${issue?.message}` }
  }
  const kids = parsed.data.map((jwk) => jwk.kid)
  if (new Set(kids).size !== kids.length) return { ok: false, message: 'has two keys with the same kid' }

  try {
    const verifying = new Map<string, CryptoKey>()
    const jwks: PublicJwk[] = []
    for (const { kid, x } of parsed.data) {
      const publicJwk = { kty: 'OKP', crv: 'Ed25519', x }
      verifying.set(kid, await crypto.subtle.importKey('jwk', publicJwk, ED25519, false, ['verify']))
      jwks.push({ kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' })
    }
    const first = parsed.data[0]!
    const signingKey = await crypto.subtle.importKey('jwk', { ...first, key_ops: undefined }, ED25519, false, ['sign'])
    await assertPairMatches(signingKey, verifying.get(first.kid)!)
    return { ok: true, keys: { signing: { kid: first.kid, key: signingKey }, verifying, jwks } }
  } catch {
    return { ok: false, message: 'holds a key that is not a valid Ed25519 key pair' }
  }
}

// A JWK whose d and x do not belong together would sign tokens nobody can verify.
async function assertPairMatches(privateKey: CryptoKey, publicKey: CryptoKey) {
  const probe = new TextEncoder().encode('edge-users key check')
  const signature = await crypto.subtle.sign(ED25519, privateKey, probe)
  if (!(await crypto.subtle.verify(ED25519, publicKey, signature, probe))) throw new Error('key pair mismatch')
}

/** RFC 7638 thumbprint, used as the kid of generated keys. */
export async function jwkThumbprint(x: string): Promise<string> {
  return toBase64Url(await sha256(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })))
}

/** A new private JWK ready for `JWT_PRIVATE_KEYS` (used by the dev set-up and keys:generate). */
export async function generateSigningKey() {
  const pair = (await crypto.subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair
  const jwk = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey
  if (!jwk.x || !jwk.d) throw new Error('the runtime exported an incomplete Ed25519 key')
  return { kty: 'OKP' as const, crv: 'Ed25519' as const, x: jwk.x, d: jwk.d, kid: await jwkThumbprint(jwk.x) }
}

/** A fresh SECRET_KEY: 32 bytes from the CSPRNG, as standard base64 (what `openssl rand -base64 32` prints). */
export function newSecretKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
}
