/** `npm run db:reset`: wipes the local D1 database and applies every migration again. */
import { rmSync } from 'node:fs'
import { migrateLocal } from './lib/run.ts'

// Where wrangler keeps local D1 databases; the rest of .wrangler/state (other bindings) is kept.
rmSync('.wrangler/state/v3/d1', { recursive: true, force: true })
console.log('Removed the local D1 database.')
await migrateLocal()
