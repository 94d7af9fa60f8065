import { drizzle } from 'drizzle-orm/d1'
import { createMiddleware } from 'hono/factory'
import * as schema from '../db/schema'
import { type AppEnv, type Database, readConfig } from '../env'
import { internalError } from '../errors'
import { log } from '../log'

// One Drizzle instance per D1 binding: building it (with the schema) on every request is waste.
const databases = new WeakMap<D1Database, Database>()

function databaseOf(binding: D1Database): Database {
  let db = databases.get(binding)
  if (!db) {
    db = drizzle(binding, { schema })
    databases.set(binding, db)
  }
  return db
}

/**
 * Puts the parsed configuration, a database handle and the caller's address on the request. A configuration that does
 * not parse stops the request with 500 internal_error (health alone reports which variable).
 */
export function requireConfig() {
  return createMiddleware<AppEnv>(async function loadConfig(c, next) {
    const result = await readConfig(c.env)
    if (!result.ok) {
      log('error', 'config.invalid', { request_id: c.var.requestId, variables: result.problems.map((p) => p.name) })
      throw internalError()
    }
    c.set('config', result.config)
    c.set('db', databaseOf(c.env.DB))
    c.set('client', { ip: c.req.header('CF-Connecting-IP') ?? null, userAgent: c.req.header('User-Agent') ?? null })
    await next()
  })
}
