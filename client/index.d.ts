import type { Client, ClientOptions } from 'openapi-fetch'
import type { components, operations, paths } from './openapi'

export type { components, operations, paths }
/** Every error body: RFC 9457 problem details with a stable `code`. */
export type Problem = components['schemas']['Problem']
export type TokenPair = components['schemas']['TokenPair']
export type User = components['schemas']['User']

/** A client for the edge-users API at `baseUrl` (its origin). */
export function createClient(baseUrl: string, options?: Omit<ClientOptions, 'baseUrl'>): Client<paths>
