// Builds the tracker into dist/: the core `candor.js` and one variant per combination of
// extras, named like Plausible's script extensions with the extras in alphabetical order
// (`candor.engagement.forms.js`), plus `candor.full.js` with every extra. The collector
// embeds dist/*.js and serves each at /js/<file>.
//
// Fails (exit 1) when the core is over 1024 bytes gzipped or any variant over 2048.
// `--outdir DIR` builds elsewhere and `--core-limit N` lowers the core limit: the size test
// uses both, to build in a temporary directory and to prove the limit check fires.

import { build } from 'esbuild'
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
const EXTRAS = ['downloads', 'engagement', 'forms', 'hash', 'outbound', 'privacy']
const CORE_LIMIT = Math.min(1024, Number(arg('--core-limit')) || 1024)
const FULL_LIMIT = 2048

const combos = (list) => list.reduce((acc, x) => acc.concat(acc.map((c) => [...c, x])), [[]])

const fileName = (extras) =>
  extras.length == EXTRAS.length ? 'candor.full.js' : ['candor', ...extras, 'js'].join('.')

const gzipSize = (buf) => gzipSync(buf, { level: 9 }).length

// Files are rewritten only when their content changes, so an unchanged build leaves their
// modification times alone and does not make cargo re-embed (and rebuild) the collector.
mkdirSync(dist, { recursive: true })
const wanted = new Set(combos(EXTRAS).map(fileName))
for (const old of readdirSync(dist)) {
  if (!wanted.has(old)) rmSync(join(dist, old), { force: true })
}

const rows = []
for (const extras of combos(EXTRAS)) {
  const file = fileName(extras)
  const define = Object.fromEntries(EXTRAS.map((x) => [x.toUpperCase(), String(extras.includes(x))]))
  const result = await build({
    entryPoints: [join(here, 'src/candor.js')],
    outfile: join(dist, file),
    write: false,
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2019'],
    legalComments: 'none',
    define,
    logLevel: 'warning',
  })
  const code = Buffer.from(result.outputFiles[0].contents)
  const target = join(dist, file)
  if (!existsSync(target) || !readFileSync(target).equals(code)) writeFileSync(target, code)
  const limit = extras.length ? FULL_LIMIT : CORE_LIMIT
  rows.push({ file, bytes: code.length, gzip: gzipSize(code), limit })
}

let failed = false
for (const r of rows) {
  const over = r.gzip > r.limit
  failed ||= over
  console.log(`${r.file.padEnd(52)} ${String(r.bytes).padStart(5)} B  ${String(r.gzip).padStart(5)} B gzip  (limit ${r.limit})${over ? '  OVER LIMIT' : ''}`)
}
if (failed) {
  console.error('snippet build: a script is over its gzipped size limit')
  process.exit(1)
}
