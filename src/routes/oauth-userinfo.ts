import { type Context, Hono } from 'hono'
import type { AppEnv } from '../app-env'
import { claimsFor } from '../oidc/grants'
import { liveClientToken } from '../oidc/introspection'

/*
 * OIDC userinfo (Core §5.3), GET or POST: a Bearer access token a client got with `openid`, for
 * this issuer as its audience, whose grant still stands. Refusals are RFC 6750's: 401
 * invalid_token, 403 insufficient_scope, in WWW-Authenticate.
 */

function bearerRefusal(c: Context<AppEnv>, error: 'invalid_request' | 'invalid_token' | 'insufficient_scope', status: 400 | 401 | 403) {
  c.header('WWW-Authenticate', `Bearer error="${error}"`)
  return c.json(
    { error, error_description: error === 'insufficient_scope' ? 'The token was not granted openid.' : 'The access token is not valid.' },
    status,
  )
}

async function userinfo(c: Context<AppEnv>) {
  const header = c.req.header('Authorization') ?? ''
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header)
  if (!match?.[1]) {
    c.header('WWW-Authenticate', 'Bearer')
    return c.json({ error: 'invalid_request', error_description: 'Send the access token in the Authorization header.' }, 401)
  }
  const live = await liveClientToken(c.var.signIn, match[1])
  if (!live?.grant || live.claims.aud !== c.var.config.publicUrl) return bearerRefusal(c, 'invalid_token', 401)
  const scopes = (live.claims.scope ?? '').split(' ')
  if (!scopes.includes('openid')) return bearerRefusal(c, 'insufficient_scope', 403)
  const claims = await claimsFor(c.var.signIn, scopes, live.grant.user, live.grant.grant.sessionId)
  return c.json({ sub: live.grant.user.id, ...claims }, 200)
}

export const oauthUserinfo = new Hono<AppEnv>().get('/oauth2/userinfo', userinfo).post('/oauth2/userinfo', userinfo)
