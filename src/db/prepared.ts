import type { Database } from '../env'

/**
 * A query built and prepared once per database handle and then run with placeholders, for the
 * hot reads (the login look-up, the session behind every authenticated request): the same SQL is
 * not rebuilt from the query builder on every request.
 */
export function preparedQuery<T>(build: (db: Database) => T): (db: Database) => T {
  const prepared = new WeakMap<Database, T>()
  return (db) => {
    let query = prepared.get(db)
    if (query === undefined) {
      query = build(db)
      prepared.set(db, query)
    }
    return query
  }
}
