import { createRoute, z } from '@hono/zod-openapi'
import { createRouter } from '../http/router'
import { jsonResponse, noAuth } from '../schemas/openapi'

export const wellKnown = createRouter()

const jwksResponse = z
  .object({
    keys: z.array(
      z.object({
        kty: z.literal('OKP'),
        crv: z.literal('Ed25519'),
        x: z.string(),
        kid: z.string(),
        alg: z.literal('EdDSA'),
        use: z.literal('sig'),
      }),
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
    summary: 'Public keys that verify access tokens',
    description: 'Every configured key, so tokens signed by a key being rotated out still verify.',
    responses: { 200: jsonResponse(jwksResponse, 'JSON Web Key Set') },
  }),
  (c) => {
    // Short enough that a rotation reaches verifiers quickly, long enough to spare this route.
    c.header('Cache-Control', 'public, max-age=300')
    return c.json({ keys: c.var.config.keys.jwks }, 200)
  },
)
