import type { Context } from 'hono'
import type { AppEnv } from '../app-env'
import type { SignedIn } from '../sign-in/context'

/** The account a request behind requireAuth() acts for, as the sign-in layer takes it. */
export const signedIn = (c: Context<AppEnv>): SignedIn => ({ user: c.var.user, session: c.var.session })
