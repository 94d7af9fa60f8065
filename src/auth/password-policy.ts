import commonPasswordList from './common-passwords'

export const PASSWORD_MAX_CODE_POINTS = 256
/** A local part shorter than this would forbid most passwords ("a" is in nearly all of them). */
const MIN_CHECKED_LOCAL_PART = 3

let commonPasswords: Set<string> | undefined

function isCommonPassword(normalised: string): boolean {
  commonPasswords ??= new Set(commonPasswordList.split('\n'))
  return commonPasswords.has(normalised.toLowerCase())
}

export type PolicyContext = { minLength: number; username?: string; email?: string }

/**
 * The contract's password rules, applied to the NFC form and counted in code points.
 * Returns the first rule the password breaks, phrased for the person choosing it, or undefined.
 */
export function passwordProblem(password: string, context: PolicyContext): string | undefined {
  const normalised = password.normalize('NFC')
  const codePoints = [...normalised]
  if (codePoints.length < context.minLength) return `must be at least ${context.minLength} characters long`
  if (codePoints.length > PASSWORD_MAX_CODE_POINTS) return `must be at most ${PASSWORD_MAX_CODE_POINTS} characters long`
  if (codePoints.every((char) => char === codePoints[0])) return 'must not be one character repeated'
  if (isCommonPassword(normalised)) return 'is a commonly used password; choose a less predictable one'

  const lower = normalised.toLowerCase()
  if (context.username && lower.includes(context.username.toLowerCase())) return 'must not contain the username'
  const localPart = context.email?.split('@')[0]?.toLowerCase()
  if (localPart && localPart.length >= MIN_CHECKED_LOCAL_PART && lower.includes(localPart)) {
    return 'must not contain the email address'
  }
  return undefined
}
