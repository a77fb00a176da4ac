// The size budget: index.html, app.js and app.css together stay at or under 100 KB gzipped,
// and the build refuses to finish past it. Also what the collector's CSP needs from the HTML.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const DASHBOARD = join(dirname(fileURLToPath(import.meta.url)), '..')
const LIMIT = 100 * 1024

describe('dashboard bundle', () => {
  let out
  let build
  before(() => {
    out = mkdtempSync(join(tmpdir(), 'candor-dashboard-build-'))
    build = spawnSync(process.execPath, [join(DASHBOARD, 'build.mjs'), '--outdir', out], { encoding: 'utf8' })
  })
  after(() => rmSync(out, { recursive: true, force: true }))

  it('build_produces_exactly_index_html_app_js_and_app_css', () => {
    assert.equal(build.status, 0, build.stdout + build.stderr)
    assert.deepEqual(readdirSync(out).sort(), ['app.css', 'app.js', 'index.html'])
  })

  it('bundle_is_at_most_100_kb_gzipped_in_total', () => {
    const sizes = Object.fromEntries(readdirSync(out).map((f) => [f, gzipSync(readFileSync(join(out, f)), { level: 9 }).length]))
    const total = Object.values(sizes).reduce((a, b) => a + b, 0)
    assert.ok(total <= LIMIT, `${total} B gzipped: ${JSON.stringify(sizes)}`)
    assert.match(build.stdout, new RegExp(`^total +${total} B gzip`, 'm'))
  })

  it('html_loads_its_assets_relatively_and_has_no_inline_script', () => {
    const html = readFileSync(join(out, 'index.html'), 'utf8')
    assert.match(html, /<html lang="en">/)
    assert.match(html, /<script defer src="\.\/app\.js\?v=[0-9a-f]{12}"><\/script>/)
    assert.match(html, /<link rel="stylesheet" href="\.\/app\.css\?v=[0-9a-f]{12}">/)
    // The collector sends `default-src 'self'`: every script must come from a file.
    assert.equal([...html.matchAll(/<script\b/g)].length, 1)
    assert.doesNotMatch(html, /\son[a-z]+=/i)
    assert.doesNotMatch(readFileSync(join(out, 'app.js'), 'utf8'), /\beval\(|new Function\(/)
  })

  it('build_fails_past_the_limit', () => {
    // Prove the check fires, with a limit the bundle cannot meet.
    const dir = mkdtempSync(join(tmpdir(), 'candor-dashboard-build-'))
    try {
      const r = spawnSync(process.execPath, [join(DASHBOARD, 'build.mjs'), '--outdir', dir, '--limit', '1000'], { encoding: 'utf8' })
      assert.equal(r.status, 1)
      assert.match(r.stdout, /^total .*OVER LIMIT/m)
      assert.match(r.stderr, /over its gzipped size limit/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
