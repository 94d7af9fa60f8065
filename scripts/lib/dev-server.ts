/**
 * Knows whether a local dev server is using the local D1 database, so `db:reset` never reports a
 * reset that the running server would not see (it keeps the old database open until it restarts).
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'

export const LOCAL_D1_DIR = resolve('.wrangler/state/v3/d1')
const MARK = resolve('.wrangler/dev-server.pid')

/** `npm run dev` leaves its process id here while it runs. */
export function markDevServer() {
  writeFileSync(MARK, String(process.pid))
  process.on('exit', () => rmSync(MARK, { force: true }))
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Processes (on Linux, any wrangler or workerd; elsewhere the one `npm run dev` marked) holding the local database. */
export function devServersUsingLocalD1(): number[] {
  const found = new Set<number>()
  if (existsSync(MARK)) {
    const pid = Number(readFileSync(MARK, 'utf8'))
    if (Number.isInteger(pid) && alive(pid)) found.add(pid)
  }
  if (existsSync('/proc')) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue
      let fds: string[]
      try {
        fds = readdirSync(`/proc/${entry}/fd`)
      } catch {
        continue // another user's process, or one that just ended
      }
      for (const fd of fds) {
        try {
          if (readlinkSync(`/proc/${entry}/fd/${fd}`).startsWith(`${LOCAL_D1_DIR}/`)) {
            found.add(Number(entry))
            break
          }
        } catch {
          // the descriptor closed while we looked
        }
      }
    }
  }
  return [...found]
}
