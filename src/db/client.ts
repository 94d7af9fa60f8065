import { type DrizzleD1Database, drizzle } from 'drizzle-orm/d1'
import { memoize } from '../lib/memo'
import * as schema from './schema'

export type Database = DrizzleD1Database<typeof schema>

/** One Drizzle handle per D1 binding, so the prepared queries made for it are reused. */
export const databaseFor: (binding: D1Database) => Database = memoize((binding) => drizzle(binding, { schema }))
