import { decodeCBORToNativeValueNoLeftoverBytes } from '@oslojs/cbor'
import {
  ClientDataType,
  COSEKeyType,
  type COSEPublicKey,
  coseAlgorithmEdDSA,
  coseAlgorithmES256,
  coseAlgorithmRS256,
  coseEllipticCurveEd25519,
  coseEllipticCurveP256,
  createAssertionSignatureMessage,
  parseAttestationObject,
  parseAuthenticatorData,
  parseClientDataJSON,
} from '@oslojs/webauthn'
import { fromBase64Url, randomBytes, toBase64Url } from '../lib/encoding'

/*
 * The WebAuthn ceremonies' checks, pure: options to hand a browser, and the verification of what
 * its authenticator answered. Parsing (client data, authenticator data, CBOR, COSE keys) is
 * @oslojs/webauthn's; signatures are WebCrypto's. Nothing here reads a request: the relying party
 * and its origins come from the configuration only.
 */

/** The relying party as configured (WEBAUTHN_RP_ID, WEBAUTHN_RP_NAME, WEBAUTHN_ORIGINS). */
export type RelyingParty = { id: string; name: string; origins: string[] }

/** A challenge is answered within this long, once. */
export const CHALLENGE_TTL_SECONDS = 300
/** The algorithms a new passkey may use, in the order offered: EdDSA, ES256, RS256 (Windows Hello). */
const ALGORITHMS = [coseAlgorithmEdDSA, coseAlgorithmES256, coseAlgorithmRS256]
/** WebAuthn's bound on a credential id. */
const MAX_CREDENTIAL_ID_BYTES = 1023
/** Authenticator data flag bits WebAuthn Level 3 adds and the parser does not read. */
const FLAG_BACKUP_ELIGIBLE = 0x08
const FLAG_BACKED_UP = 0x10

/** Why a ceremony's answer was refused: recorded in the audit trail, never told to the client. */
export type CeremonyFailure =
  | 'malformed'
  | 'type'
  | 'challenge'
  | 'origin'
  | 'rp_id'
  | 'user_presence'
  | 'user_verification'
  | 'algorithm'
  | 'signature'

export type Verified<T> = { ok: true; value: T } | { ok: false; reason: CeremonyFailure }

/** A credential as the ceremonies know it. */
export type CredentialDescriptor = { credentialId: string; transports: string[] | null }

export const newChallenge = () => toBase64Url(randomBytes(32))

/** Options for navigator.credentials.create(), as PublicKeyCredentialCreationOptionsJSON. */
export function creationOptions(
  rp: RelyingParty,
  user: { id: string; username: string },
  challenge: string,
  exclude: CredentialDescriptor[],
) {
  return {
    rp: { id: rp.id, name: rp.name },
    user: { id: toBase64Url(new TextEncoder().encode(user.id)), name: user.username, displayName: user.username },
    challenge,
    pubKeyCredParams: ALGORITHMS.map((alg) => ({ type: 'public-key' as const, alg })),
    timeout: CHALLENGE_TTL_SECONDS * 1000,
    excludeCredentials: exclude.map(descriptor),
    authenticatorSelection: { residentKey: 'required' as const, requireResidentKey: true, userVerification: 'required' as const },
    attestation: 'none' as const,
    hints: [],
    extensions: { credProps: true },
  }
}

/** Options for navigator.credentials.get(), as PublicKeyCredentialRequestOptionsJSON. */
export function requestOptions(rp: RelyingParty, challenge: string, allow?: CredentialDescriptor[]) {
  return {
    challenge,
    rpId: rp.id,
    timeout: CHALLENGE_TTL_SECONDS * 1000,
    userVerification: 'required' as const,
    ...(allow ? { allowCredentials: allow.map(descriptor) } : {}),
    hints: [],
  }
}

const descriptor = (credential: CredentialDescriptor) => ({
  type: 'public-key' as const,
  id: credential.credentialId,
  ...(credential.transports?.length ? { transports: credential.transports } : {}),
})

/** RegistrationResponseJSON, the parts this API reads (validated at the route). */
export type RegistrationResponse = {
  id: string
  rawId: string
  type: string
  response: { clientDataJSON: string; attestationObject: string; transports?: string[] }
}

/** AuthenticationResponseJSON, the parts this API reads. */
export type AuthenticationResponse = {
  id: string
  rawId: string
  type: string
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string | null }
}

/** A registered credential, ready to store: the public key is a JWK (with its `alg`) as JSON. */
export type NewCredential = {
  credentialId: string
  publicKey: string
  counter: number
  backedUp: boolean
  transports: string[]
}

/**
 * The user handle a new credential is given: the account's id (no name or address, which an
 * authenticator may show to anyone holding it).
 */
export const userHandleOf = (userId: string) => toBase64Url(new TextEncoder().encode(userId))

const TRANSPORTS = new Set(['ble', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb'])

/**
 * Checks a registration (WebAuthn Level 3 §7.1, attestation `none`): client data of type create
 * with the challenge handed out and an allowed origin, the RP ID hash, user presence and
 * verification, a credential id as the response names it, and a public key of an allowed
 * algorithm that imports. The attestation statement is not checked: `none` was asked for, and
 * nothing here trusts an authenticator's make.
 */
export async function verifyRegistration(
  rp: RelyingParty,
  challenge: string,
  credential: RegistrationResponse,
): Promise<Verified<NewCredential>> {
  const rawId = fromBase64Url(credential.rawId)
  const clientDataJSON = fromBase64Url(credential.response.clientDataJSON)
  const attestationBytes = fromBase64Url(credential.response.attestationObject)
  if (!rawId || !clientDataJSON || !attestationBytes || credential.id !== credential.rawId) return failed('malformed')
  if (credential.type !== 'public-key') return failed('type')
  const client = checkClientData(rp, challenge, clientDataJSON, ClientDataType.Create)
  if (client) return failed(client)
  let parsed: ReturnType<typeof parseAttestationObject>
  let flags: number
  try {
    parsed = parseAttestationObject(attestationBytes)
    flags = authDataFlags(attestationBytes)
  } catch {
    return failed('malformed')
  }
  const data = parsed.authenticatorData
  const flagProblem = checkFlags(rp, data)
  if (flagProblem) return failed(flagProblem)
  const attested = data.credential
  if (!attested || attested.id.length > MAX_CREDENTIAL_ID_BYTES || toBase64Url(attested.id) !== credential.rawId) return failed('malformed')
  const jwk = jwkOf(attested.publicKey)
  if (!jwk || !(await importVerifyKey(jwk))) return failed('algorithm')
  return {
    ok: true,
    value: {
      credentialId: credential.rawId,
      publicKey: JSON.stringify(jwk),
      counter: data.signatureCounter,
      backedUp: (flags & FLAG_BACKED_UP) !== 0 && (flags & FLAG_BACKUP_ELIGIBLE) !== 0,
      transports: [...new Set(credential.response.transports ?? [])].filter((transport) => TRANSPORTS.has(transport)),
    },
  }
}

/** What an assertion that checked out says: the authenticator's counter and backup state. */
export type Assertion = { counter: number; backedUp: boolean }

/**
 * Checks an assertion (§7.2) against a stored credential: client data of type get with the
 * challenge and an allowed origin, the RP ID hash, user presence and verification, and the
 * signature over authenticator data and the client data's hash. The counter rule is the
 * caller's (it needs the stored value, and a conditional write).
 */
export async function verifyAssertion(
  rp: RelyingParty,
  challenge: string,
  publicKey: string,
  credential: AuthenticationResponse,
): Promise<Verified<Assertion>> {
  const clientDataJSON = fromBase64Url(credential.response.clientDataJSON)
  const authenticatorData = fromBase64Url(credential.response.authenticatorData)
  const signature = fromBase64Url(credential.response.signature)
  if (!clientDataJSON || !authenticatorData || !signature || credential.id !== credential.rawId) return failed('malformed')
  if (credential.type !== 'public-key') return failed('type')
  const client = checkClientData(rp, challenge, clientDataJSON, ClientDataType.Get)
  if (client) return failed(client)
  let data: ReturnType<typeof parseAuthenticatorData>
  try {
    data = parseAuthenticatorData(authenticatorData)
  } catch {
    return failed('malformed')
  }
  const flagProblem = checkFlags(rp, data)
  if (flagProblem) return failed(flagProblem)
  const jwk = JSON.parse(publicKey) as JsonWebKey & { alg: string }
  const key = await importVerifyKey(jwk)
  if (!key) return failed('algorithm')
  const message = createAssertionSignatureMessage(authenticatorData, clientDataJSON)
  const raw = jwk.alg === 'ES256' ? p1363Of(signature) : signature
  if (!raw || !(await crypto.subtle.verify(verifyParams(jwk.alg), key, raw as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>)))
    return failed('signature')
  const flags = authenticatorData[32] ?? 0
  return {
    ok: true,
    value: { counter: data.signatureCounter, backedUp: (flags & FLAG_BACKED_UP) !== 0 && (flags & FLAG_BACKUP_ELIGIBLE) !== 0 },
  }
}

/**
 * The counter rule: 0 from the authenticator and 0 stored is a synced passkey that keeps no
 * count (accepted); otherwise the count must grow. One that does not grow may be a cloned key.
 */
export const counterAdvances = (stored: number, asserted: number) => (asserted === 0 && stored === 0) || asserted > stored

const failed = (reason: CeremonyFailure) => ({ ok: false, reason }) as const

function checkClientData(rp: RelyingParty, challenge: string, bytes: Uint8Array, type: ClientDataType): CeremonyFailure | undefined {
  let client: ReturnType<typeof parseClientDataJSON>
  try {
    client = parseClientDataJSON(bytes)
  } catch {
    return 'malformed'
  }
  if (client.type !== type) return 'type'
  if (toBase64Url(client.challenge) !== challenge) return 'challenge'
  // A ceremony in a cross-origin iframe is not one of ours.
  if (!rp.origins.includes(client.origin) || client.crossOrigin === true) return 'origin'
  return undefined
}

function checkFlags(rp: RelyingParty, data: ReturnType<typeof parseAuthenticatorData>): CeremonyFailure | undefined {
  if (!data.verifyRelyingPartyIdHash(rp.id)) return 'rp_id'
  if (!data.userPresent) return 'user_presence'
  if (!data.userVerified) return 'user_verification'
  return undefined
}

/** The flags byte of the authenticator data inside an attestation object. */
function authDataFlags(attestationObject: Uint8Array): number {
  const decoded = decodeCBORToNativeValueNoLeftoverBytes(attestationObject, 4) as { authData?: unknown }
  if (!(decoded.authData instanceof Uint8Array) || decoded.authData.length < 37) throw new Error('no authenticator data')
  return decoded.authData[32] ?? 0
}

type StoredJwk = JsonWebKey & { alg: 'EdDSA' | 'ES256' | 'RS256' }

/** A COSE public key of an allowed algorithm as a JWK; undefined for any other. */
function jwkOf(key: COSEPublicKey): StoredJwk | undefined {
  try {
    const algorithm = key.algorithm()
    if (algorithm === coseAlgorithmEdDSA && key.type() === COSEKeyType.OKP) {
      const okp = key.okp()
      if (okp.curve !== coseEllipticCurveEd25519) return undefined
      return { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(okp.x), alg: 'EdDSA' }
    }
    if (algorithm === coseAlgorithmES256 && key.type() === COSEKeyType.EC2) {
      const ec = key.ec2()
      if (ec.curve !== coseEllipticCurveP256) return undefined
      return { kty: 'EC', crv: 'P-256', x: toBase64Url(bytesOf(ec.x, 32)), y: toBase64Url(bytesOf(ec.y, 32)), alg: 'ES256' }
    }
    if (algorithm === coseAlgorithmRS256 && key.type() === COSEKeyType.RSA) {
      const rsa = key.rsa()
      if (rsa.n.toString(2).length < 2048) return undefined
      return { kty: 'RSA', n: toBase64Url(bytesOf(rsa.n)), e: toBase64Url(bytesOf(rsa.e)), alg: 'RS256' }
    }
  } catch {
    // a key missing a parameter its type needs
  }
  return undefined
}

function verifyParams(alg: string) {
  if (alg === 'ES256') return { name: 'ECDSA', hash: 'SHA-256' }
  if (alg === 'RS256') return { name: 'RSASSA-PKCS1-v1_5' }
  return { name: 'Ed25519' }
}

async function importVerifyKey(jwk: JsonWebKey & { alg: string }): Promise<CryptoKey | undefined> {
  const algorithm =
    jwk.alg === 'ES256'
      ? { name: 'ECDSA', namedCurve: 'P-256' }
      : jwk.alg === 'RS256'
        ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
        : jwk.alg === 'EdDSA'
          ? { name: 'Ed25519' }
          : undefined
  if (!algorithm) return undefined
  const { alg: _alg, ...bare } = jwk
  try {
    return await crypto.subtle.importKey('jwk', bare, algorithm, false, ['verify'])
  } catch {
    return undefined
  }
}

/** A non-negative integer as big-endian bytes, left-padded to `length` when given. */
function bytesOf(value: bigint, length = 0): Uint8Array {
  let hex = value.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  const bytes = Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16))
  if (bytes.length >= length) return bytes
  const padded = new Uint8Array(length)
  padded.set(bytes, length - bytes.length)
  return padded
}

/** An ASN.1 DER ECDSA signature (what authenticators send) as WebCrypto's r ‖ s, 32 bytes each. */
function p1363Of(der: Uint8Array): Uint8Array | undefined {
  if (der[0] !== 0x30 || der[1] !== der.length - 2) return undefined
  const out = new Uint8Array(64)
  let at = 2
  for (const half of [0, 1]) {
    if (der[at] !== 0x02) return undefined
    const length = der[at + 1] ?? 0
    let integer = der.subarray(at + 2, at + 2 + length)
    if (integer.length !== length || length === 0) return undefined
    // DER: one leading zero, and only before a byte with its high bit set.
    if (integer.length === 33 && integer[0] === 0 && (integer[1] ?? 0) >= 0x80) integer = integer.subarray(1)
    if (integer.length > 32 || (integer.length > 1 && integer[0] === 0 && (integer[1] ?? 0) < 0x80)) return undefined
    out.set(integer, half * 32 + 32 - integer.length)
    at += 2 + length
  }
  return at === der.length ? out : undefined
}
