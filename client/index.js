import createFetchClient from 'openapi-fetch'

/**
 * A client for the edge-users API at `baseUrl` (its origin, e.g. https://users.example.workers.dev).
 * Paths, bodies, answers and problems are typed from the API's own OpenAPI document (openapi.d.ts).
 */
export function createClient(baseUrl, options = {}) {
  return createFetchClient({ ...options, baseUrl })
}
