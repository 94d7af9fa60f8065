/** `npm run db:reset`: wipes the local D1 database and applies every migration again. */
import { rmSync } from 'node:fs'
import { devServersUsingLocalD1, LOCAL_D1_DIR } from './lib/dev-server.ts'
import { migrateLocal } from './lib/run.ts'

const holders = devServersUsingLocalD1()
if (holders.length > 0) {
  console.error(
    `The local database is in use by a running dev server (process ${holders.join(', ')}). ` +
      'It would keep serving the old data and lose what is written meanwhile. Stop it (Ctrl-C in its terminal), then run npm run db:reset again.',
  )
  process.exit(1)
}
// The rest of .wrangler/state (the limiter's Durable Object, for one) is kept.
rmSync(LOCAL_D1_DIR, { recursive: true, force: true })
console.log('Removed the local D1 database.')
await migrateLocal()
