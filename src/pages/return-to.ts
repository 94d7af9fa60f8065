/** Where a page goes when it has nowhere better (or was given somewhere it must not go). */
export const DEFAULT_RETURN_TO = '/account'

const PROBE = 'https://return-to.invalid'

/**
 * The contract's `return_to`: a path on this origin (one leading `/`, never `//` or `/\`, which a
 * browser reads as another host) or a URL on APP_URL's origin; anything else is `/account`. The
 * value is judged as the browser will read it (the URL parser drops tabs and newlines, turns `\`
 * into `/`), and what is returned is that reading, so the check and the redirect agree.
 */
export function confineReturnTo(value: string | undefined, appUrl: string): string {
  if (!value) return DEFAULT_RETURN_TO
  if (value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\') && URL.canParse(value, PROBE)) {
    const url = new URL(value, PROBE)
    const path = `${url.pathname}${url.search}${url.hash}`
    // Judged again as it will be sent: dot segments and escapes can normalise `/.//evil` into
    // `//evil`, which a browser reads as another host.
    if (url.origin === PROBE && path.startsWith('/') && !path.startsWith('//')) return path
    return DEFAULT_RETURN_TO
  }
  if (URL.canParse(value)) {
    const url = new URL(value)
    const app = new URL(appUrl)
    if ((url.protocol === 'https:' || url.protocol === 'http:') && url.origin === app.origin && !url.username && !url.password)
      return url.href
  }
  return DEFAULT_RETURN_TO
}
