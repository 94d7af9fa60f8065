import { createRoute, z } from '@hono/zod-openapi'
import { createRouter } from '../http/router'
import { providerMetadata, resourceMetadata } from '../oidc/discovery'
import { jsonResponse, noAuth } from '../schemas/openapi'

export const wellKnown = createRouter()

const jwksResponse = z
  .object({
    keys: z.array(
      z.union([
        z.object({
          kty: z.literal('OKP'),
          crv: z.literal('Ed25519'),
          x: z.string(),
          kid: z.string(),
          alg: z.literal('EdDSA'),
          use: z.literal('sig'),
        }),
        z
          .object({ kty: z.literal('RSA'), n: z.string(), e: z.string(), kid: z.string(), alg: z.literal('RS256'), use: z.literal('sig') })
          .openapi({ description: "The OpenID Provider's RSA key, for ID tokens (RS256)" }),
      ]),
    ),
  })
  .openapi('JWKS')

wellKnown.openapi(
  createRoute({
    method: 'get',
    path: '/jwks.json',
    operationId: 'getJwks',
    tags: ['tokens'],
    security: noAuth,
    summary: 'Public keys that verify access tokens (Ed25519) and ID tokens (RSA)',
    description: 'Every configured key, so tokens signed by a key being rotated out still verify.',
    responses: { 200: jsonResponse(jwksResponse, 'JSON Web Key Set') },
  }),
  (c) => {
    // Short enough that a rotation reaches verifiers quickly, long enough to spare this route.
    c.header('Cache-Control', 'public, max-age=300')
    return c.json({ keys: c.var.config.keys.jwks }, 200)
  },
)

// Discovery: public, cacheable for a while (the document changes only with the configuration).
for (const path of ['/openid-configuration', '/oauth-authorization-server'])
  wellKnown.get(path, (c) => {
    c.header('Cache-Control', 'public, max-age=300')
    return c.json(providerMetadata(c.var.config), 200)
  })

wellKnown.get('/oauth-protected-resource', (c) => {
  c.header('Cache-Control', 'public, max-age=300')
  return c.json(resourceMetadata(c.var.config), 200)
})
