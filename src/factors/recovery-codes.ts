import { hashRecoveryCode, newRecoveryCode, RECOVERY_CODES_PER_SET } from '../auth/recovery-codes'

/** Ten new recovery codes and their hashes: the codes are shown once, only the hashes are kept. */
export async function newRecoveryCodeSet() {
  const codes = Array.from({ length: RECOVERY_CODES_PER_SET }, newRecoveryCode)
  return { codes, hashes: await Promise.all(codes.map(hashRecoveryCode)) }
}
