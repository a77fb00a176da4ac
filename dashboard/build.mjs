// Builds the dashboard into dist/: index.html, app.js and app.css, minified. The collector
// embeds every file of dist/ at build time and serves them under /dashboard/.
//
// Fails (exit 1) when the three files together are over 100 KB gzipped.
// `--outdir DIR` builds elsewhere and `--limit N` lowers the limit (the size test uses both).

import { build } from 'esbuild'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const here = dirname(fileURLToPath(import.meta.url))
const arg = (name) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? process.argv[i + 1] : undefined
}
const dist = arg('--outdir') || join(here, 'dist')
const LIMIT = Math.min(100 * 1024, Number(arg('--limit')) || 100 * 1024)

const result = await build({
  entryPoints: { app: join(here, 'src/app.js') },
  outdir: dist,
  write: false,
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'warning',
})

const out = {}
for (const f of result.outputFiles) out[f.path.slice(dist.length + 1)] = Buffer.from(f.contents)
if (!out['app.js'] || !out['app.css']) throw new Error(`esbuild produced ${Object.keys(out).join(', ')}`)

// The HTML names its assets with a content hash in the query string, so a browser never
// pairs a new page with a cached old script.
const hash = (buf) => createHash('sha256').update(buf).digest('hex').slice(0, 12)
out['index.html'] = Buffer.from(
  readFileSync(join(here, 'src/index.html'), 'utf8')
    .replace('__JS_HASH__', hash(out['app.js']))
    .replace('__CSS_HASH__', hash(out['app.css']))
    .replace(/>\s+</g, '><')
    .trim() + '\n',
)

// Files are rewritten only when their content changes, so an unchanged build leaves their
// modification times alone and does not make cargo re-embed (and rebuild) the collector.
mkdirSync(dist, { recursive: true })
for (const old of readdirSync(dist)) if (!(old in out)) rmSync(join(dist, old), { recursive: true, force: true })
let total = 0
for (const [file, bytes] of Object.entries(out).sort()) {
  const target = join(dist, file)
  if (!existsSync(target) || !readFileSync(target).equals(bytes)) writeFileSync(target, bytes)
  const gz = gzipSync(bytes, { level: 9 }).length
  total += gz
  console.log(`${file.padEnd(12)} ${String(bytes.length).padStart(7)} B  ${String(gz).padStart(6)} B gzip`)
}
const over = total > LIMIT
console.log(`${'total'.padEnd(12)} ${''.padStart(9)}  ${String(total).padStart(6)} B gzip  (limit ${LIMIT})${over ? '  OVER LIMIT' : ''}`)
if (over) {
  console.error('dashboard build: the bundle is over its gzipped size limit')
  process.exit(1)
}
