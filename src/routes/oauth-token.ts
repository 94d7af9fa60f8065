import { type Context, Hono } from 'hono'
import type { AppEnv } from '../app-env'
import { ApiError } from '../errors'
import { type ClientCredentials, clientNamedBy, judgeClient, refuseClient } from '../oidc/client-auth'
import { clientCredentialsGrant } from '../oidc/client-credentials'
import { exchangeCode, refreshGrant } from '../oidc/grants'
import { introspect } from '../oidc/introspection'
import { OAuthError } from '../oidc/oauth-error'
import { revokeToken } from '../oidc/revocation'
import { admitFromNetwork } from '../sign-in/admit'

/*
 * The OpenID Provider's token endpoint (/oauth2/token): a form (application/x-www-form-urlencoded),
 * the client authenticated by client_secret_basic, client_secret_post or its id alone (public
 * clients), answered in OAuth's format with Cache-Control: no-store (the app's default): the
 * authorization_code, refresh_token and client_credentials grants. Revocation (RFC 7009) and
 * introspection (RFC 7662) authenticate their caller the same way.
 */

/** HTTP Basic as RFC 6749 §2.3.1 has it: id and secret each form-urlencoded before joining. */
function basicCredentials(header: string | undefined): { clientId: string; secret: string } | undefined | 'malformed' {
  if (!header || !/^basic /i.test(header)) return undefined
  try {
    const decoded = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(
      Uint8Array.from(atob(header.slice(6).trim()), (char) => char.charCodeAt(0)),
    )
    const colon = decoded.indexOf(':')
    if (colon < 0) return 'malformed'
    const decode = (part: string) => decodeURIComponent(part.replaceAll('+', ' '))
    return { clientId: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) }
  } catch {
    return 'malformed'
  }
}

/** The client's credentials as the request gives them ('malformed': a Basic header that is not one, refused once the budget has answered). */
function credentialsOf(c: Context<AppEnv>, form: URLSearchParams): ClientCredentials | 'malformed' {
  const basic = basicCredentials(c.req.header('Authorization'))
  if (basic === 'malformed') return basic
  const formId = form.get('client_id') ?? undefined
  const formSecret = form.get('client_secret') ?? undefined
  if (basic) {
    if (formSecret !== undefined) throw new OAuthError('invalid_request', 'Send the client credentials one way, not both.')
    if (formId !== undefined && formId !== basic.clientId)
      throw new OAuthError('invalid_request', 'client_id does not match the Authorization header.')
    return { method: 'client_secret_basic', clientId: basic.clientId, secret: basic.secret }
  }
  if (!formId)
    throw new OAuthError('invalid_client', 'Authenticate the client (HTTP Basic, client_secret_post, or client_id for a public client).')
  return formSecret !== undefined
    ? { method: 'client_secret_post', clientId: formId, secret: formSecret }
    : { method: 'none', clientId: formId }
}

function refusal(c: Context<AppEnv>, error: unknown) {
  if (error instanceof OAuthError) {
    if (error.basicChallenge) c.header('WWW-Authenticate', 'Basic realm="oauth2", charset="UTF-8"')
    return c.json({ error: error.code, error_description: error.description }, error.status)
  }
  if (error instanceof ApiError && error.code === 'rate_limited') {
    for (const [name, value] of Object.entries(error.headers)) c.header(name, value)
    return c.json({ error: 'rate_limited', error_description: error.detail }, 429)
  }
  throw error
}

/**
 * What the token and introspection endpoints read first: a form, no parameter given twice, the
 * client's credentials and the client they name, all reads.
 */
async function readRequest(c: Context<AppEnv>, singles: string[]) {
  if (!/^application\/x-www-form-urlencoded\b/i.test(c.req.header('Content-Type') ?? ''))
    throw new OAuthError('invalid_request', 'The body must be application/x-www-form-urlencoded.')
  const form = new URLSearchParams(new TextDecoder().decode(await c.req.arrayBuffer()))
  for (const name of ['client_id', 'client_secret', ...singles])
    if (form.getAll(name).length > 1) throw new OAuthError('invalid_request', `${name} is repeated.`)
  const credentials = credentialsOf(c, form)
  const stored = credentials === 'malformed' ? undefined : await clientNamedBy(c.var.signIn, credentials)
  return { form, credentials, stored }
}

/**
 * The request read and its client authenticated. The network's budget is spent as the request
 * arrives and the request is read beside it (one round trip instead of two), but nothing is
 * judged, answered or written before the budget has answered: a spent budget is a 429 whatever the
 * request holds, right or wrong credentials alike, as for every unauthenticated POST.
 */
async function authenticatedForm(c: Context<AppEnv>, singles: string[]) {
  const [admitted, read] = await Promise.allSettled([admitFromNetwork(c.var.signIn), readRequest(c, singles)])
  if (admitted.status === 'rejected') throw admitted.reason
  if (read.status === 'rejected') throw read.reason
  const { form, credentials, stored } = read.value
  if (credentials === 'malformed') return refuseClient(c.var.signIn, { method: 'client_secret_basic' }, 'malformed_basic')
  return { form, client: await judgeClient(c.var.signIn, credentials, stored) }
}

export const oauthToken = new Hono<AppEnv>()

oauthToken.post('/oauth2/introspect', async (c) => {
  c.header('Pragma', 'no-cache')
  try {
    const { form, client } = await authenticatedForm(c, ['token', 'token_type_hint'])
    const token = form.get('token')
    if (!token) throw new OAuthError('invalid_request', 'token is required.')
    return c.json(await introspect(c.var.signIn, client, token), 200)
  } catch (error) {
    return refusal(c, error)
  }
})

oauthToken.post('/oauth2/revoke', async (c) => {
  try {
    const { form, client } = await authenticatedForm(c, ['token', 'token_type_hint'])
    const token = form.get('token')
    if (!token) throw new OAuthError('invalid_request', 'token is required.')
    await revokeToken(c.var.signIn, client, token)
    return c.body(null, 200)
  } catch (error) {
    return refusal(c, error)
  }
})

oauthToken.post('/oauth2/token', async (c) => {
  c.header('Pragma', 'no-cache')
  try {
    const { form, client } = await authenticatedForm(c, ['grant_type', 'scope', 'code', 'redirect_uri', 'code_verifier', 'refresh_token'])
    const grantType = form.get('grant_type')
    const resources = form.getAll('resource')
    if (grantType === 'authorization_code') {
      const answer = await exchangeCode(c.var.signIn, client, {
        code: form.get('code'),
        redirectUri: form.get('redirect_uri'),
        verifier: form.get('code_verifier'),
        resources,
      })
      return c.json(answer, 200)
    }
    if (grantType === 'refresh_token') {
      const answer = await refreshGrant(c.var.signIn, client, {
        refreshToken: form.get('refresh_token'),
        resources,
        scope: form.get('scope'),
      })
      return c.json(answer, 200)
    }
    if (grantType === 'client_credentials') {
      const answer = await clientCredentialsGrant(c.var.signIn, client, {
        scope: form.get('scope') ?? undefined,
        resources,
      })
      return c.json(answer, 200)
    }
    if (!grantType) throw new OAuthError('invalid_request', 'grant_type is required.')
    throw new OAuthError('unsupported_grant_type', `This server does not serve the ${grantType.slice(0, 40)} grant.`)
  } catch (error) {
    return refusal(c, error)
  }
})
