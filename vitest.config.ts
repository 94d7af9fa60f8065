import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'
import { generateSigningKey, newSecretKey } from './src/auth/keys.ts'

export default defineConfig(async () => {
  // Fresh keys per run: the tests sign forged tokens with them, and nothing real is ever at stake.
  const [signingKey, spareKey] = await Promise.all([generateSigningKey(), generateSigningKey()])
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: './wrangler.toml' },
        miniflare: {
          bindings: {
            JWT_PRIVATE_KEYS: JSON.stringify([signingKey]),
            SECRET_KEY: newSecretKey(),
            TEST_SPARE_KEY: JSON.stringify(spareKey),
            TEST_MIGRATIONS: await readD1Migrations('./migrations'),
          },
          // A second database, playing a lagging read replica (test/read-replicas.test.ts).
          d1Databases: { TEST_REPLICA: 'test-replica' },
        },
      }),
    ],
    test: {
      include: ['test/**/*.test.ts'],
      setupFiles: ['./test/setup.ts'],
      globalSetup: ['./test/global-setup.ts'],
      silent: 'passed-only',
    },
  }
})
