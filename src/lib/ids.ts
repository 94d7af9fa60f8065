import { randomBytes } from './encoding'

let lastMillis = 0
let sequence = 0

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Within one millisecond in
 * one isolate the 12-bit rand_a field counts up, so ids made here sort in creation order, which
 * keyset pagination ("oldest first") relies on.
 */
export function uuidv7(now = Date.now()): string {
  if (now <= lastMillis) {
    sequence++
    if (sequence > 0xfff) {
      lastMillis++
      sequence = 0
    }
    now = lastMillis
  } else {
    lastMillis = now
    sequence = 0
  }
  const bytes = randomBytes(16)
  bytes[0] = (now / 2 ** 40) & 0xff
  bytes[1] = (now / 2 ** 32) & 0xff
  bytes[2] = (now >>> 24) & 0xff
  bytes[3] = (now >>> 16) & 0xff
  bytes[4] = (now >>> 8) & 0xff
  bytes[5] = now & 0xff
  bytes[6] = 0x70 | ((sequence >>> 8) & 0x0f)
  bytes[7] = sequence & 0xff
  bytes[8] = 0x80 | (bytes[8]! & 0x3f)
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
