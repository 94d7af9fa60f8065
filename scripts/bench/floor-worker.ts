/**
 * The benchmark's floors, each measured over HTTP as the difference between a route and /noop on
 * this same minimal worker:
 * - /pbkdf2?n=N: N PBKDF2 derivations at ITERATIONS (SHA-256, 32 bytes, as a login does one);
 *   dividing by N amortises the HTTP noise.
 * - /d1: one D1 round trip (`select 1`), what any query costs before its SQL does anything.
 * - /d1-session: the same in a D1 session that starts on the primary (the Sessions API), as every
 *   request of the API makes its queries; the session also asks D1 for a bookmark.
 * - /d1-batch?n=N: one batch of N `select 1` in such a session: beside /d1-session, what each
 *   statement after the first costs in one round trip (locally, the engine's own work per
 *   statement; the API's sign-in batches hold four or five).
 */
type FloorEnv = { ITERATIONS: string; DB: D1Database }

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const url = new URL(request.url)
    if (url.pathname === '/d1') {
      await env.DB.prepare('select 1').first()
      return new Response('ok')
    }
    if (url.pathname === '/d1-session') {
      await env.DB.withSession('first-primary').prepare('select 1').first()
      return new Response('ok')
    }
    if (url.pathname === '/d1-batch') {
      const session = env.DB.withSession('first-primary')
      const statements = Math.min(Math.max(Number(url.searchParams.get('n') ?? 1), 1), 50)
      await session.batch(Array.from({ length: statements }, () => session.prepare('select 1')))
      return new Response('ok')
    }
    if (url.pathname !== '/pbkdf2') return new Response('ok')
    const times = Math.min(Math.max(Number(url.searchParams.get('n') ?? 1), 1), 50)
    for (let i = 0; i < times; i++) {
      const material = await crypto.subtle.importKey('raw', new TextEncoder().encode('a-benchmark-password-1'), 'PBKDF2', false, [
        'deriveBits',
      ])
      const salt = crypto.getRandomValues(new Uint8Array(16))
      await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: Number(env.ITERATIONS) }, material, 256)
    }
    return new Response('ok')
  },
}
