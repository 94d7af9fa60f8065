import { z } from '@hono/zod-openapi'
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../lib/encoding'

/*
 * Keyset pagination: a cursor is the opaque form of the last id a page showed. Ids are UUIDv7,
 * time-ordered, so "after this id" is "after this row" and needs no OFFSET.
 */
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export const encodeCursor = (id: string) => toBase64Url(utf8.encode(id))

function decodeCursor(cursor: string): string | undefined {
  const bytes = fromBase64Url(cursor)
  if (!bytes) return undefined
  try {
    const id = fromUtf8.decode(bytes)
    return ID.test(id) ? id : undefined
  } catch {
    return undefined // not UTF-8: nothing we made
  }
}

export const cursorParam = z
  .string()
  .transform((cursor, ctx) => {
    const id = decodeCursor(cursor)
    if (id === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is not a cursor this API gave out' })
      return z.NEVER
    }
    return id
  })
  .openapi({ description: 'The `next_cursor` of the previous page', type: 'string' })

export const limitParam = (fallback: number) =>
  z.coerce
    .number({ error: 'must be a whole number from 1 to 100' })
    .int('must be a whole number from 1 to 100')
    .min(1, 'must be a whole number from 1 to 100')
    .max(100, 'must be a whole number from 1 to 100')
    .default(fallback)
    .openapi({ type: 'integer', minimum: 1, maximum: 100, default: fallback })

/** Splits the limit + 1 rows a page query fetched into the page and the cursor of the next one. */
export function page<T extends { id: string }>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.id) : null }
}
