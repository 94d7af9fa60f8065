import { OpenAPIHono } from '@hono/zod-openapi'
import type { AppEnv } from '../app-env'
import { rejectInvalid } from './validation'

/** Every router validates the same way: a failed schema is 400 validation_failed. */
export const createRouter = () => new OpenAPIHono<AppEnv>({ defaultHook: rejectInvalid })
