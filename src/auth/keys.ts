import { z } from 'zod'
import { sha256, toBase64Url } from '../lib/encoding.ts'

export type PublicJwk =
  | { kty: 'OKP'; crv: 'Ed25519'; x: string; kid: string; alg: 'EdDSA'; use: 'sig' }
  | { kty: 'RSA'; n: string; e: string; kid: string; alg: 'RS256'; use: 'sig' }

export type KeySet = {
  /** The first configured Ed25519 key: it signs every new access token. */
  signing: { kid: string; key: CryptoKey }
  /** Every configured Ed25519 key verifies, so a rotated-out key keeps its tokens valid until they expire. */
  verifying: ReadonlyMap<string, CryptoKey>
  /**
   * The first configured RSA key, when there is one: what the OpenID Provider signs ID tokens
   * with by default (RS256 is what every relying party accepts). It never signs an access token.
   */
  rsaSigning?: { kid: string; key: CryptoKey }
  /** Every configured RSA key's public half: an ID token coming back as a hint (end-session) is checked with it. */
  rsaVerifying: ReadonlyMap<string, CryptoKey>
  /** The public halves of every key, Ed25519 and RSA, for /.well-known/jwks.json. */
  jwks: PublicJwk[]
}

const RS256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const
const base64Url = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be base64url')
/** 2048 bits at least: a modulus of 256 bytes is 342 base64url characters. */
const MIN_RSA_MODULUS_CHARS = 342

const ED25519 = { name: 'Ed25519' } as const
const base64Url32 = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a 32-byte base64url value')

const kid = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 . _ -')

const ed25519Jwk = z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), d: base64Url32, x: base64Url32, kid })

const rsaJwk = z.object({
  kty: z.literal('RSA'),
  n: base64Url.min(MIN_RSA_MODULUS_CHARS, 'must be a modulus of at least 2048 bits'),
  e: base64Url,
  d: base64Url,
  p: base64Url,
  q: base64Url,
  dp: base64Url,
  dq: base64Url,
  qi: base64Url,
  kid,
})

const privateJwks = z
  .array(z.discriminatedUnion('kty', [ed25519Jwk, rsaJwk]))
  .min(1, 'must hold at least one key')
  .refine((keys) => keys.some((key) => key.kty === 'OKP'), 'must hold at least one Ed25519 key (it signs access tokens)')

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
    return { ok: false, message: 'is not valid JSON; it must be a JSON array of private JWKs (Ed25519, and optionally RSA)' }
  }
  const parsed = privateJwks.safeParse(json)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue?.path.length ? ` (at ${issue.path.join('.')})` : ''
    return { ok: false, message: `must be a JSON array of private JWKs with kid (Ed25519, and optionally RSA)${where}: ${issue?.message}` }
  }
  const kids = parsed.data.map((jwk) => jwk.kid)
  if (new Set(kids).size !== kids.length) return { ok: false, message: 'has two keys with the same kid' }

  try {
    const verifying = new Map<string, CryptoKey>()
    const rsaVerifying = new Map<string, CryptoKey>()
    const jwks: PublicJwk[] = []
    for (const key of parsed.data) {
      if (key.kty === 'OKP') {
        verifying.set(key.kid, await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: key.x }, ED25519, false, ['verify']))
        jwks.push({ kty: 'OKP', crv: 'Ed25519', x: key.x, kid: key.kid, alg: 'EdDSA', use: 'sig' })
      } else {
        rsaVerifying.set(key.kid, await importRsaPublic(key))
        jwks.push({ kty: 'RSA', n: key.n, e: key.e, kid: key.kid, alg: 'RS256', use: 'sig' })
      }
    }
    const first = parsed.data.find((key) => key.kty === 'OKP')!
    const signingKey = await crypto.subtle.importKey('jwk', { ...first, key_ops: undefined }, ED25519, false, ['sign'])
    await assertPairMatches(ED25519, signingKey, verifying.get(first.kid)!)
    const rsa = parsed.data.find((key) => key.kty === 'RSA')
    const rsaSigning = rsa ? { kid: rsa.kid, key: await importRsaPair(rsa) } : undefined
    return { ok: true, keys: { signing: { kid: first.kid, key: signingKey }, verifying, rsaSigning, rsaVerifying, jwks } }
  } catch {
    return { ok: false, message: 'holds a key that is not a valid key pair' }
  }
}

const importRsaPublic = (jwk: { n: string; e: string }) =>
  crypto.subtle.importKey('jwk', { kty: 'RSA', n: jwk.n, e: jwk.e, alg: 'RS256' }, RS256, false, ['verify'])

/** An RSA private key for RS256, checked against its own public half. */
async function importRsaPair(jwk: z.infer<typeof rsaJwk>): Promise<CryptoKey> {
  const { kid: _kid, ...material } = jwk
  const privateKey = await crypto.subtle.importKey('jwk', { ...material, alg: 'RS256' }, RS256, false, ['sign'])
  await assertPairMatches(RS256, privateKey, await importRsaPublic(jwk))
  return privateKey
}

// A JWK whose d and x do not belong together would sign tokens nobody can verify.
async function assertPairMatches(algorithm: typeof ED25519 | typeof RS256, privateKey: CryptoKey, publicKey: CryptoKey) {
  const probe = new TextEncoder().encode('edge-users key check')
  const signature = await crypto.subtle.sign(algorithm, privateKey, probe)
  if (!(await crypto.subtle.verify(algorithm, publicKey, signature, probe))) throw new Error('key pair mismatch')
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

/**
 * A new RSA private JWK (2048 bits, e = 65537) for RS256 ID tokens, its kid the RFC 7638
 * thumbprint of its public half.
 */
export async function generateRsaSigningKey() {
  const pair = (await crypto.subtle.generateKey({ ...RS256, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  const jwk = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey
  const { n, e, d, p, q, dp, dq, qi } = jwk
  if (!n || !e || !d || !p || !q || !dp || !dq || !qi) throw new Error('the runtime exported an incomplete RSA key')
  const thumbprint = toBase64Url(await sha256(JSON.stringify({ e, kty: 'RSA', n })))
  return { kty: 'RSA' as const, n, e, d, p, q, dp, dq, qi, kid: thumbprint }
}

/** A fresh SECRET_KEY: 32 bytes from the CSPRNG, as standard base64 (what `openssl rand -base64 32` prints). */
export function newSecretKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
}
