import { z } from '@hono/zod-openapi'

/*
 * The WebAuthn Level 3 JSON forms a browser's PublicKeyCredential.toJSON() (or
 * @simplewebauthn/browser) sends: only the members this API reads are checked; the rest pass.
 */

const base64url = (max: number) =>
  z
    .string()
    .min(1, 'is required')
    .max(max)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be base64url')

const credentialBase = {
  id: base64url(1400),
  rawId: base64url(1400),
  type: z.string().max(32),
  authenticatorAttachment: z.string().max(32).nullish(),
  clientExtensionResults: z.record(z.string(), z.unknown()).optional(),
}

export const registrationResponseSchema = z
  .object({
    ...credentialBase,
    response: z.object({
      clientDataJSON: base64url(4096),
      attestationObject: base64url(8192),
      transports: z.array(z.string().max(32)).max(8).optional(),
    }),
  })
  .openapi('RegistrationResponseJSON', { description: 'What navigator.credentials.create() answered, as JSON' })

export const authenticationResponseSchema = z
  .object({
    ...credentialBase,
    response: z.object({
      clientDataJSON: base64url(4096),
      authenticatorData: base64url(4096),
      signature: base64url(1024),
      userHandle: z.string().max(128).nullish(),
    }),
  })
  .openapi('AuthenticationResponseJSON', { description: 'What navigator.credentials.get() answered, as JSON' })

export const passkeySchema = z
  .object({
    id: z.string().openapi({ description: "This API's id for the passkey (not the credential id)" }),
    name: z.string(),
    created_at: z.iso.datetime(),
    last_used_at: z.iso.datetime().nullable(),
    backed_up: z.boolean().openapi({ description: 'Whether the authenticator says it is synced (a backed-up passkey)' }),
    transports: z.array(z.string()),
  })
  .openapi('Passkey')

export const passkeyNameSchema = z.string().trim().min(1, 'is required').max(64, 'must be at most 64 characters')

export const challengeIdSchema = z.string().min(1, 'is required').max(64)

const envelope = (name: string, description: string) =>
  z
    .object({
      challenge_id: z.string().openapi({ description: 'Send it back with the answer; single use, 5 minutes' }),
      options: z.record(z.string(), z.unknown()).openapi({ description }),
    })
    .openapi(name)

export const creationOptionsSchema = envelope(
  'PasskeyCreationOptions',
  'PublicKeyCredentialCreationOptionsJSON: pass to PublicKeyCredential.parseCreationOptionsFromJSON() or @simplewebauthn/browser startRegistration()',
)
export const requestOptionsSchema = envelope(
  'PasskeyRequestOptions',
  'PublicKeyCredentialRequestOptionsJSON: pass to PublicKeyCredential.parseRequestOptionsFromJSON() or @simplewebauthn/browser startAuthentication()',
)
