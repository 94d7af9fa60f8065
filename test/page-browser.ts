import { call, freshIp, ORIGIN } from './helpers'

/**
 * A browser as the hosted pages see one, for tests through HTTP: a cookie jar (Set-Cookie obeyed,
 * Max-Age=0 forgotten), one client address, and forms sent the way a browser sends them: urlencoded,
 * with `Origin` of this origin and the CSRF token its page carried, unless a test says otherwise.
 */
export class PageBrowser {
  readonly cookies = new Map<string, string>()
  readonly ip = freshIp()
  /** The Set-Cookie lines of the latest answer, as sent (attributes included). */
  lastSetCookies: string[] = []

  private remember(response: Response) {
    this.lastSetCookies = response.headers.getSetCookie()
    for (const line of this.lastSetCookies) {
      const [pair = '', ...attributes] = line.split(';').map((part) => part.trim())
      const at = pair.indexOf('=')
      const name = pair.slice(0, at)
      const value = pair.slice(at + 1)
      const gone = attributes.some((attribute) => /^max-age=0$/i.test(attribute)) || value === ''
      if (gone) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }

  private cookieHeader() {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ')
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const response = await call(`${ORIGIN}${path}`, {
      headers: { Cookie: this.cookieHeader(), 'CF-Connecting-IP': this.ip, 'User-Agent': 'PageBrowser/1.0', ...headers },
    })
    this.remember(response)
    return response
  }

  /** The CSRF token the browser's cookie holds (a GET of any page gives it one). */
  csrf(): string {
    return this.cookies.get('__Host-edge-users-csrf') ?? ''
  }

  /** The session cookie's value, if signed in. */
  session(): string | undefined {
    return this.cookies.get('__Host-edge-users-session')
  }

  async post(
    path: string,
    fields: Record<string, string>,
    options: { origin?: string | null; secFetchSite?: string; csrf?: string | null; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    if (!this.csrf()) await this.get('/sign-in')
    const body = new URLSearchParams(fields)
    const csrf = options.csrf === undefined ? this.csrf() : options.csrf
    if (csrf !== null) body.set('csrf_token', csrf)
    const headers: Record<string, string> = {
      Cookie: this.cookieHeader(),
      'CF-Connecting-IP': this.ip,
      'User-Agent': 'PageBrowser/1.0',
      'Content-Type': 'application/x-www-form-urlencoded',
      ...options.headers,
    }
    const origin = options.origin === undefined ? ORIGIN : options.origin
    if (origin !== null) headers.Origin = origin
    if (options.secFetchSite) headers['Sec-Fetch-Site'] = options.secFetchSite
    const response = await call(`${ORIGIN}${path}`, { method: 'POST', headers, rawBody: body.toString() })
    this.remember(response)
    return response
  }

  /** Signs in on /sign-in with a password (no second factor): the session cookie is set. */
  async signIn(account: { username: string; password: string }, returnTo?: string): Promise<Response> {
    const query = returnTo === undefined ? '' : `?return_to=${encodeURIComponent(returnTo)}`
    await this.get(`/sign-in${query}`)
    return this.post(`/sign-in${query}`, {
      username: account.username,
      password: account.password,
      ...(returnTo ? { return_to: returnTo } : {}),
    })
  }
}

/** The text of the page's role="alert" element, if it has one. */
export function alertOf(html: string): string | undefined {
  return /<p class="alert" role="alert"[^>]*>([^<]*)<\/p>/
    .exec(html)?.[1]
    ?.replaceAll('&#39;', "'")
    .replaceAll('&quot;', '"')
    .replaceAll('&amp;', '&')
}
