declare namespace Cloudflare {
  interface Env {
    /** The migrations under migrations/, read by vitest.config.ts. */
    TEST_MIGRATIONS: import('cloudflare:test').D1Migration[]
    /** A second private JWK, for key-rotation tests: not configured unless a test adds it. */
    TEST_SPARE_KEY: string
    /** A second D1 database with the same schema, standing in for a lagging read replica. */
    TEST_REPLICA: D1Database
    /** A D1 database no migration has touched, for tests of a migration's data moves. */
    TEST_BLANK: D1Database
  }
}
