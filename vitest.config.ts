import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin'
import { defineConfig, type Plugin } from 'vitest/config'
import { experimental_readRawConfig } from 'wrangler'
import { generateRsaSigningKey, generateSigningKey, newSecretKey } from './src/auth/keys.ts'

/**
 * Keys of a wrangler configuration that name files (read relative to the configuration's directory)
 * and that testWorkerConfig() does not rewrite: one of them in wrangler.toml is an error, not a broken path.
 */
const UNHANDLED_PATH_KEYS = [
  'base_dir',
  'build',
  'tsconfig',
  'rules',
  'alias',
  'site',
  'wasm_modules',
  'text_blobs',
  'data_blobs',
  'containers',
]

/**
 * wrangler.toml as the tests' worker runs it: everything but its `[secrets]` table, written as
 * .wrangler/vitest/wrangler.json (git-ignored) with its paths (main, assets, migrations) made absolute.
 *
 * The tests give the worker its secrets themselves (`miniflare.bindings` below). Handed wrangler.toml
 * as it is, the pool asks wrangler for the local secrets of every test file's worker, 27 times a run:
 * a `[secrets]` table makes wrangler read .dev.vars (or .env, and then all of process.env), say so
 * ("Using secrets defined in …") and warn of each required secret it did not find there. It would
 * also let a variable of a developer's .dev.vars or shell that shares a `[vars]` name (LOG_REQUESTS,
 * CORS_ORIGINS…) change what the tests run against. From .wrangler/vitest/, with no `[secrets]`,
 * wrangler finds no .dev.vars or .env beside the configuration and leaves process.env alone.
 */
function testWorkerConfig(): string {
  const { rawConfig } = experimental_readRawConfig({ config: 'wrangler.toml' })
  const { secrets: _suppliedBelow, ...config } = rawConfig
  const unhandled = UNHANDLED_PATH_KEYS.filter((key) => key in config)
  if (unhandled.length > 0) throw new Error(`vitest.config.ts: make wrangler.toml's ${unhandled.join(', ')} absolute in testWorkerConfig()`)
  const absolute = (path: string | undefined) => (path === undefined ? undefined : resolve(path))
  const derived = {
    ...config,
    main: absolute(config.main),
    assets: config.assets && { ...config.assets, directory: absolute(config.assets.directory) },
    d1_databases: config.d1_databases?.map((db) => ({ ...db, migrations_dir: absolute(db.migrations_dir) })),
  }
  const file = resolve('.wrangler/vitest/wrangler.json')
  mkdirSync(dirname(file), { recursive: true })
  // Written aside and renamed, so a second run starting meanwhile never reads half a file.
  writeFileSync(`${file}.${process.pid}`, `${JSON.stringify(derived, null, 2)}\n`)
  renameSync(`${file}.${process.pid}`, file)
  return file
}

/**
 * oauth4webapi's build/index.js names a source map (`//# sourceMappingURL=index.js.map`) whose only
 * source, ../src/index.ts, its npm package leaves out; Vite warns "Sourcemap for … points to missing
 * source files" each time it transforms the file afresh (the first run, or after a change of
 * configuration). Loaded without that comment, its stack frames name build/index.js, a file there is.
 */
const oauth4webapiWithoutDanglingSourceMap: Plugin = {
  name: 'oauth4webapi-without-dangling-source-map',
  enforce: 'pre',
  load(id) {
    if (!/[\\/]node_modules[\\/]oauth4webapi[\\/]build[\\/]index\.js$/.test(id)) return null
    return { code: readFileSync(id, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'), map: null }
  },
}

export default defineConfig(async () => {
  // Fresh keys per run: the tests sign forged tokens with them, and nothing real is ever at stake.
  const [signingKey, spareKey, rsaKey] = await Promise.all([generateSigningKey(), generateSigningKey(), generateRsaSigningKey()])
  return {
    plugins: [
      oauth4webapiWithoutDanglingSourceMap,
      cloudflareTest({
        wrangler: { configPath: testWorkerConfig() },
        miniflare: {
          bindings: {
            JWT_PRIVATE_KEYS: JSON.stringify([signingKey, rsaKey]),
            SECRET_KEY: newSecretKey(),
            TEST_SPARE_KEY: JSON.stringify(spareKey),
            TEST_MIGRATIONS: await readD1Migrations('./migrations'),
          },
          // A second database, playing a lagging read replica (test/read-replicas.test.ts).
          // A third, left empty: the migration tests apply migrations to it one step at a time.
          d1Databases: { TEST_REPLICA: 'test-replica', TEST_BLANK: 'test-blank' },
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
