/**
 * `npm run client:check`: the typed client as another repository gets it. The client package is
 * packed (`npm pack client`), installed with TypeScript into a new folder outside this repository,
 * and client/example/main.ts is compiled there with the DOM library and that folder's own
 * tsconfig: nothing of this repository's configuration, types or node_modules takes part.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

function run(command: string, args: string[], cwd: string) {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' })
  if (result.status !== 0) {
    console.error(`${command} ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`)
    process.exit(1)
  }
  return result.stdout
}

const repo = resolve(import.meta.dirname, '..')
const app = mkdtempSync(join(tmpdir(), 'edge-users-client-check-'))
try {
  run('npm', ['pack', '--silent', '--pack-destination', app, join(repo, 'client')], repo)
  const tarball = readdirSync(app).find((name) => name.endsWith('.tgz'))
  if (!tarball) throw new Error('npm pack wrote no tarball')
  const typescript = (await import(join(repo, 'node_modules/typescript/package.json'), { with: { type: 'json' } })).default.version
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'a-front-end', private: true, type: 'module', dependencies: { 'edge-users-client': `file:./${tarball}` } }),
  )
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'DOM', 'DOM.Iterable'],
        module: 'ESNext',
        moduleResolution: 'bundler',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      include: ['main.ts'],
    }),
  )
  copyFileSync(join(repo, 'client/example/main.ts'), join(app, 'main.ts'))
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', `typescript@${typescript}`], app)
  run(join(app, 'node_modules/.bin/tsc'), ['-p', '.'], app)
  console.log(`client/example/main.ts compiles against the packed client in ${app} (DOM lib, TypeScript ${typescript}).`)
} finally {
  rmSync(app, { recursive: true, force: true })
}
