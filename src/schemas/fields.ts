import { z } from '@hono/zod-openapi'
import { PASSWORD_MAX_CODE_POINTS } from '../auth/password-policy'

/** Request fields with the contract's rules, shared by every route that accepts them. */

const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/

export const usernameField = z
  .string()
  .regex(USERNAME_PATTERN, 'must be 3-32 characters of A-Z a-z 0-9 _ . - starting with a letter or digit')
  .openapi({ example: 'ada_lovelace' })

export const emailField = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email('must be a valid email address'))
  .openapi({ example: 'ada@example.com' })

/** The policy itself depends on configuration and on the account, so withPasswordPolicy() applies it. */
export const newPasswordField = z.string().openapi({
  // One the policy accepts for the username and address examples above, so "try it" works as shipped.
  example: 'analytical-engine-1843',
  description: `At least PASSWORD_MIN_LENGTH (default 15) and at most ${PASSWORD_MAX_CODE_POINTS} characters after NFC normalisation; not a commonly used password, not one repeated character, and not containing the username or the email's local part.`,
})

/** A password being checked, not set: generous, so a long pasted one is refused by the hash, not the schema. */
export const currentPasswordField = z
  .string()
  .min(1, 'is required')
  .max(4 * PASSWORD_MAX_CODE_POINTS)
  .openapi({ example: 'analytical-engine-1843' })

/** The current password that adding a way in (TOTP, a passkey, a linked identity) takes in its body. */
export const wayInPasswordField = currentPasswordField.optional().openapi({
  description: 'The current password: required when the account has one (a stolen access token alone never adds a way in)',
})
