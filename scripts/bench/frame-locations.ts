/**
 * Where a profiled function is written: its position in the bundle wrangler built (the frame's
 * script) mapped back through the bundle's source map, so a frame reads `src/auth/keys.ts:42`
 * rather than `index.js:18204`. Without a map, or a mapping, the bundle's own line is given. The
 * bundle lives in the served config's folder (.wrangler/tmp) and goes with it: locate frames
 * before the server is stopped.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CallFrame } from './profiler.ts'

type Bundle = { map: SourceMap; mapDir: string } | undefined

/** The bundle's file: the script's URL as workerd names it (a path, a file: URL, or a module name relative to the build folder). */
function bundleFile(url: string, configDir: string): string | undefined {
  if (url.startsWith('file:')) return fileURLToPath(url)
  if (isAbsolute(url)) return url
  const builds = join(configDir, '.wrangler', 'tmp')
  if (!url || !existsSync(builds)) return undefined
  return readdirSync(builds)
    .map((build) => join(builds, build, url))
    .find((file) => existsSync(file))
}

/** The source map the bundle names in its last `sourceMappingURL` comment (a file beside it, or inline), else `<bundle>.map`. */
function bundleOf(file: string | undefined): Bundle {
  if (!file || !existsSync(file)) return undefined
  const text = readFileSync(file, 'utf8')
  const comment = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(text.slice(text.lastIndexOf('//# sourceMappingURL=')))?.[1]
  if (comment?.startsWith('data:')) {
    const payload = Buffer.from(comment.slice(comment.indexOf(',') + 1), 'base64').toString('utf8')
    return { map: new SourceMap(JSON.parse(payload)), mapDir: dirname(file) }
  }
  const mapFile = comment ? resolve(dirname(file), comment) : `${file}.map`
  if (!existsSync(mapFile)) return undefined
  return { map: new SourceMap(JSON.parse(readFileSync(mapFile, 'utf8'))), mapDir: dirname(mapFile) }
}

/** `src/...` for the project's files, `node_modules/...` for a library's; a path outside the project stays absolute. */
function sourcePath(source: string, mapDir: string, projectDir: string): string {
  const file = source.startsWith('file:') ? fileURLToPath(source) : resolve(mapDir, source)
  const inProject = relative(projectDir, file)
  return inProject.startsWith('..') ? file : inProject
}

/**
 * A function that says where a frame's function is: `path:line` (1-based), or '' for V8's own
 * frames (the garbage collector). `configDir` is the served wrangler.toml's folder.
 */
export function frameLocator(configDir: string, projectDir = process.cwd()): (frame: CallFrame) => string {
  const bundles = new Map<string, Bundle>()
  return ({ url, lineNumber, columnNumber }) => {
    if (!url) return ''
    if (!bundles.has(url)) bundles.set(url, bundleOf(bundleFile(url, configDir)))
    const bundle = bundles.get(url)
    const entry = bundle?.map.findEntry(lineNumber, columnNumber)
    if (bundle && entry && 'originalSource' in entry)
      return `${sourcePath(entry.originalSource, bundle.mapDir, projectDir)}:${entry.originalLine + 1}`
    return `${basename(url)}:${lineNumber + 1}`
  }
}
