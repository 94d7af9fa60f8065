/**
 * `npm run keys:generate`: prints a new Ed25519 private JWK as a one-key JSON array, ready for
 * `wrangler secret put JWT_PRIVATE_KEYS`. To rotate, put the new key first and keep the old ones
 * after it until every token they signed has expired.
 */
import { generateSigningKey } from '../src/auth/keys.ts'

const key = await generateSigningKey()
console.log(JSON.stringify([key]))
console.error(`New key ${key.kid}. To rotate without logging anyone out, set JWT_PRIVATE_KEYS to [new, ...current keys].`)
