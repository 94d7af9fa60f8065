// Copies the API reference's browser code (Swagger UI, from the npm package swagger-ui-dist) into
// public/docs-assets/, which Workers Static Assets serves from this worker's own origin: the docs
// page loads nothing from a CDN. Runs after every npm install (postinstall); public/ is git-ignored.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const source = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'))
const target = join('public', 'docs-assets')
mkdirSync(target, { recursive: true })
for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css', 'LICENSE', 'NOTICE']) copyFileSync(join(source, file), join(target, file))

// Static Assets answers these files without running the worker, so their headers are set here.
writeFileSync(
  join('public', '_headers'),
  `/docs-assets/*
  X-Content-Type-Options: nosniff
  Cross-Origin-Resource-Policy: same-origin
  Cache-Control: public, max-age=3600
`,
)
