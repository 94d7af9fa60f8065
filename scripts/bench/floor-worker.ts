/**
 * The benchmark's floor: the cost of one PBKDF2 derivation inside workerd, measured over HTTP as
 * the difference between /pbkdf2?n=N (N derivations at ITERATIONS, SHA-256, 32 bytes, as a login
 * does one) and /noop on this same minimal worker, divided by N: the HTTP noise is amortised.
 */
type FloorEnv = { ITERATIONS: string }

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const url = new URL(request.url)
    if (url.pathname !== '/pbkdf2') return new Response('ok')
    const times = Math.min(Math.max(Number(url.searchParams.get('n') ?? 1), 1), 50)
    for (let i = 0; i < times; i++) {
      const material = await crypto.subtle.importKey('raw', new TextEncoder().encode('a-benchmark-password-1'), 'PBKDF2', false, ['deriveBits'])
      const salt = crypto.getRandomValues(new Uint8Array(16))
      await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: Number(env.ITERATIONS) }, material, 256)
    }
    return new Response('ok')
  },
}
