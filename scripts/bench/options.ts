import { parseArgs } from 'node:util'
import type { ServeMode } from './processes.ts'

/** Every endpoint the benchmark drives, by the name `--only` takes and the table prints. */
export const ENDPOINT_NAMES = [
  'hello',
  'signup',
  'login',
  'login second step (totp)',
  'reauthenticate',
  'passkey sign-in',
  'me',
  'refresh',
  'admin list (first page)',
  'admin list (deep page)',
  'oauth code exchange',
  'oauth code exchange (no openid)',
  'oauth refresh',
  'oauth userinfo',
  'org permission check',
  'org invitation',
  'oauth authorize',
  'sign-in page',
  'page sign-in',
] as const
export type EndpointName = (typeof ENDPOINT_NAMES)[number]

export type BenchOptions = {
  users: number
  /** Seconds per measured run, and the warm-up before each target's first. */
  seconds: number
  warmUpSeconds: number
  quick: boolean
  scale: boolean
  peer: boolean
  assets: boolean
  mode: ServeMode
  json: string | undefined
  only: string[] | undefined
}

/** The command line of `npm run bench`, checked: a mistake stops the run before anything is served. */
export function readBenchOptions(args: string[]): BenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      users: { type: 'string', default: '10000' },
      quick: { type: 'boolean', default: false },
      scale: { type: 'boolean', default: false },
      seconds: { type: 'string' },
      json: { type: 'string' },
      only: { type: 'string' },
      peer: { type: 'boolean', default: false },
      mode: { type: 'string', default: 'direct' },
      assets: { type: 'boolean', default: false },
    },
  })
  if (values.mode !== 'direct' && values.mode !== 'wrangler') throw new Error("--mode must be 'direct' or 'wrangler'")
  const only = values.only?.split(',').map((name) => name.trim())
  const unknown = only?.filter((name) => !(ENDPOINT_NAMES as readonly string[]).includes(name))
  if (unknown?.length)
    throw new Error(
      `--only: no endpoint named ${unknown.map((name) => `'${name}'`).join(', ')}; the endpoints are ${ENDPOINT_NAMES.map((name) => `'${name}'`).join(', ')}`,
    )
  const users = Number(values.users)
  const seconds = Number(values.seconds ?? (values.quick ? 3 : 10))
  if (!Number.isSafeInteger(users) || users < 200) throw new Error('--users must be a whole number of at least 200')
  if (!(seconds > 0)) throw new Error('--seconds must be positive')
  return {
    users,
    seconds,
    warmUpSeconds: values.quick ? 1 : 2,
    quick: values.quick,
    scale: values.scale,
    peer: values.peer,
    assets: values.assets,
    mode: values.mode,
    json: values.json,
    only,
  }
}
