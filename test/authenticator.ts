/**
 * A software authenticator for the tests: WebCrypto keys, authenticator data, CBOR and client
 * data built by hand, so a test can make every answer a browser would, and every one it would not
 * (a wrong origin or RP ID, no user verification, a counter going backwards, a foreign key).
 */

const encoder = new TextEncoder()

export const TEST_RP_ID = 'localhost'
/** The API's default passkey origin in the tests: PUBLIC_URL (APP_URL is empty, so it is the app's too). */
export const TEST_ORIGIN = 'http://localhost:8787'

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
const fromB64url = (text: string) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (char) => char.charCodeAt(0))

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

type Cbor = number | string | Uint8Array | Cbor[] | Map<number | string, Cbor> | { [key: string]: Cbor }

/** Canonical-enough CBOR (RFC 8949) for what an authenticator sends: ints, strings, bytes, arrays, maps. */
export function cbor(value: Cbor): Uint8Array {
  const head = (major: number, length: number) => {
    if (length < 24) return Uint8Array.of((major << 5) | length)
    if (length < 256) return Uint8Array.of((major << 5) | 24, length)
    if (length < 65536) return Uint8Array.of((major << 5) | 25, length >> 8, length & 255)
    return Uint8Array.of((major << 5) | 26, (length >>> 24) & 255, (length >> 16) & 255, (length >> 8) & 255, length & 255)
  }
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value)
  if (typeof value === 'string') {
    const bytes = encoder.encode(value)
    return concat(head(3, bytes.length), bytes)
  }
  if (value instanceof Uint8Array) return concat(head(2, value.length), value)
  if (Array.isArray(value)) return concat(head(4, value.length), ...value.map(cbor))
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value)
  return concat(head(5, entries.length), ...entries.flatMap(([key, item]) => [cbor(key), cbor(item)]))
}

export type Algorithm = 'ES256' | 'EdDSA'

/** One credential the authenticator holds. */
export type SoftCredential = {
  id: Uint8Array
  algorithm: Algorithm
  privateKey: CryptoKey
  publicKey: CryptoKey
  userHandle: string
  counter: number
}

/** What a ceremony may get wrong on purpose. */
export type Tamper = {
  origin?: string
  rpId?: string
  type?: string
  challenge?: string
  userVerified?: boolean
  userPresent?: boolean
  /** The counter to report (by default: the credential's, plus one when it is non-zero). */
  counter?: number
  crossOrigin?: boolean
  userHandle?: string | null
  /** Sign with this credential's key while naming another. */
  signWith?: SoftCredential
}

async function newKeyPair(algorithm: Algorithm) {
  const params = algorithm === 'ES256' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'Ed25519' }
  return (await crypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair
}

async function coseKey(algorithm: Algorithm, publicKey: CryptoKey): Promise<Uint8Array> {
  const jwk = (await crypto.subtle.exportKey('jwk', publicKey)) as JsonWebKey
  if (algorithm === 'ES256')
    return cbor(
      new Map<number, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, fromB64url(jwk.x ?? '')],
        [-3, fromB64url(jwk.y ?? '')],
      ]),
    )
  return cbor(
    new Map<number, Cbor>([
      [1, 1],
      [3, -8],
      [-1, 6],
      [-2, fromB64url(jwk.x ?? '')],
    ]),
  )
}

const FLAG_UP = 0x01
const FLAG_UV = 0x04
const FLAG_BE = 0x08
const FLAG_BS = 0x10
const FLAG_AT = 0x40

async function authenticatorData(rpId: string, flags: number, counter: number, attested?: Uint8Array) {
  const rpIdHash = new Uint8Array(await crypto.subtle.digest('SHA-256', encoder.encode(rpId)))
  const count = Uint8Array.of((counter >>> 24) & 255, (counter >> 16) & 255, (counter >> 8) & 255, counter & 255)
  return concat(rpIdHash, Uint8Array.of(flags), count, attested ?? new Uint8Array())
}

const clientData = (type: string, challenge: string, origin: string, crossOrigin = false) =>
  encoder.encode(JSON.stringify({ type, challenge, origin, crossOrigin }))

function flagsOf(tamper: Tamper, extra = 0) {
  return (tamper.userPresent === false ? 0 : FLAG_UP) | (tamper.userVerified === false ? 0 : FLAG_UV) | extra
}

/** WebCrypto's ECDSA signature (r ‖ s) as the ASN.1 DER an authenticator sends. */
function derOf(raw: Uint8Array): Uint8Array {
  const integer = (bytes: Uint8Array) => {
    let start = 0
    while (start < bytes.length - 1 && bytes[start] === 0) start++
    let trimmed = bytes.subarray(start)
    if ((trimmed[0] ?? 0) & 0x80) trimmed = concat(Uint8Array.of(0), trimmed)
    return concat(Uint8Array.of(0x02, trimmed.length), trimmed)
  }
  const body = concat(integer(raw.subarray(0, 32)), integer(raw.subarray(32)))
  return concat(Uint8Array.of(0x30, body.length), body)
}

async function sign(credential: SoftCredential, message: Uint8Array) {
  if (credential.algorithm === 'ES256') {
    const raw = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, credential.privateKey, message))
    return derOf(raw)
  }
  return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, credential.privateKey, message))
}

type CreationOptions = { challenge: string; rp: { id: string }; user: { id: string } }
type RequestOptions = { challenge: string; rpId: string }

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = []

  /** navigator.credentials.create(): a new credential, and the RegistrationResponseJSON for it. */
  async register(options: CreationOptions, tamper: Tamper & { algorithm?: Algorithm; backedUp?: boolean; id?: Uint8Array } = {}) {
    const algorithm = tamper.algorithm ?? 'ES256'
    const pair = await newKeyPair(algorithm)
    const credential: SoftCredential = {
      id: tamper.id ?? crypto.getRandomValues(new Uint8Array(32)),
      algorithm,
      privateKey: pair.privateKey,
      publicKey: pair.publicKey,
      userHandle: options.user.id,
      counter: tamper.counter ?? 0,
    }
    const attested = concat(
      new Uint8Array(16),
      Uint8Array.of(credential.id.length >> 8, credential.id.length & 255),
      credential.id,
      await coseKey(algorithm, pair.publicKey),
    )
    const backup = tamper.backedUp ? FLAG_BE | FLAG_BS : 0
    const data = await authenticatorData(tamper.rpId ?? options.rp.id, flagsOf(tamper, FLAG_AT | backup), credential.counter, attested)
    const client = clientData(
      tamper.type ?? 'webauthn.create',
      tamper.challenge ?? options.challenge,
      tamper.origin ?? TEST_ORIGIN,
      tamper.crossOrigin,
    )
    this.credentials.push(credential)
    const id = b64url(credential.id)
    return {
      credential,
      response: {
        id,
        rawId: id,
        type: 'public-key',
        authenticatorAttachment: 'platform',
        clientExtensionResults: {},
        response: {
          clientDataJSON: b64url(client),
          attestationObject: b64url(cbor({ fmt: 'none', attStmt: {}, authData: data })),
          transports: ['internal'],
        },
      },
    }
  }

  /** navigator.credentials.get() with one credential: the AuthenticationResponseJSON. */
  async assert(options: RequestOptions, credential: SoftCredential, tamper: Tamper = {}) {
    const counter = tamper.counter ?? (credential.counter === 0 ? 0 : credential.counter + 1)
    credential.counter = counter
    const data = await authenticatorData(tamper.rpId ?? options.rpId, flagsOf(tamper), counter)
    const client = clientData(
      tamper.type ?? 'webauthn.get',
      tamper.challenge ?? options.challenge,
      tamper.origin ?? TEST_ORIGIN,
      tamper.crossOrigin,
    )
    const clientHash = new Uint8Array(await crypto.subtle.digest('SHA-256', client))
    const signature = await sign(tamper.signWith ?? credential, concat(data, clientHash))
    const id = b64url(credential.id)
    return {
      id,
      rawId: id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(client),
        authenticatorData: b64url(data),
        signature: b64url(signature),
        userHandle: tamper.userHandle === undefined ? credential.userHandle : tamper.userHandle,
      },
    }
  }
}
