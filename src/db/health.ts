import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/d1'

/** True when D1 answers a trivial query. */
export async function databaseAnswers(binding: D1Database): Promise<boolean> {
  try {
    await drizzle(binding).run(sql`select 1`)
    return true
  } catch {
    return false
  }
}
