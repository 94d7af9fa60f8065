// A browser app's use of the API, compiled by `npm run client:check` in a folder of its own, with
// the DOM library and this package installed from a packed tarball, as another repository would.
import { createClient, type TokenPair } from 'edge-users-client'

const api = createClient('http://localhost:8787')

/** The access token lives in memory only; the refresh token is the one thing worth keeping. */
let session: TokenPair | undefined

export async function signUpAndIn(username: string, email: string, password: string): Promise<string> {
  const signedUp = await api.POST('/api/v1/users/signup', { body: { username, email, password } })
  if (signedUp.error) return `signup refused: ${signedUp.error.code}`

  const { data, error } = await api.POST('/api/v1/users/login', { body: { username, password } })
  if (error) {
    // Narrowed by its code: a second factor is asked for with a token to answer it.
    if (error.code === 'mfa_required' && error.mfa_token) return `needs one of ${error.methods?.join(', ')}`
    return `login refused: ${error.detail}`
  }
  session = data

  const me = await api.GET('/api/v1/users/me', { headers: { Authorization: `Bearer ${session.access_token}` } })
  const name: string = me.data?.user.username ?? 'unknown'

  const refreshed = await api.POST('/api/v1/users/refresh', { body: { refresh_token: session.refresh_token } })
  if (refreshed.data) session = refreshed.data

  const loggedOut = await api.POST('/api/v1/users/logout', {
    headers: { Authorization: `Bearer ${session.access_token}` },
    body: { refresh_token: session.refresh_token },
  })
  session = undefined
  document.title = `${name} signed out (${loggedOut.response.status})`
  return name
}
