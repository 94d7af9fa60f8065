import { createRoute, type RouteHandler, z } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { createRouter } from '../http/router'
import { withPasswordPolicy } from '../http/validation'
import { enqueueAfterWrite, verificationJob } from '../mail/jobs'
import { ipBudget } from '../rate-limit/ip-budget'
import { emailField, newPasswordField, usernameField } from '../schemas/fields'
import { jsonRequest, jsonResponse, noAuth } from '../schemas/openapi'
import { bodyProblems } from '../schemas/problem'
import { userEnvelope } from '../schemas/user'
import { createAccount } from '../sign-in/sign-up'
import { userView } from '../views/user'

const signupBody = z.object({ username: usernameField, email: emailField, password: newPasswordField }).openapi('SignupRequest')

const signupRoute = createRoute({
  method: 'post',
  path: '/signup',
  operationId: 'signUp',
  tags: ['users'],
  summary: 'Create an account',
  description: 'Unknown fields are ignored: a `role` sent here does nothing; every account starts as `user`.',
  security: noAuth,
  middleware: [ipBudget()] as const,
  request: { body: jsonRequest(signupBody) },
  responses: {
    201: jsonResponse(userEnvelope, 'The new account'),
    ...bodyProblems({ 400: ['validation_failed'], 409: ['username_taken', 'email_taken'], 429: ['rate_limited'] }),
  },
})

const signup: RouteHandler<typeof signupRoute, AppEnv> = async (c) => {
  const user = await createAccount(c.var.signIn, c.req.valid('json'))
  await enqueueAfterWrite(c.env.MAIL_QUEUE, [verificationJob(user)], c.var.requestId)
  return c.json({ user: userView(user) }, 201)
}

/** Creating an account. Mounted at /api/v1/users. */
export const signUpRoutes = createRouter().openapi(
  signupRoute,
  signup,
  withPasswordPolicy('password', (body) => ({ password: body.password, username: body.username, email: body.email })),
)
