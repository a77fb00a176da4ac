// The size budget: the core script every visitor downloads stays under 1 KB gzipped, and the
// variant with every extra under 2 KB. The build itself refuses to finish past either limit.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { gzipSync } from 'node:zlib'
import { SNIPPET } from './harness.mjs'

describe('snippet size', () => {
  let out
  let build
  before(() => {
    out = mkdtempSync(join(tmpdir(), 'candor-snippet-build-'))
    build = spawnSync(process.execPath, [join(SNIPPET, 'build.mjs'), '--outdir', out], { encoding: 'utf8' })
  })
  after(() => rmSync(out, { recursive: true, force: true }))

  const gz = (file) => gzipSync(readFileSync(join(out, file))).length

  it('build_succeeds_and_prints_every_gzipped_size', () => {
    assert.equal(build.status, 0, build.stdout + build.stderr)
    for (const file of readdirSync(out)) assert.match(build.stdout, new RegExp(`^${file.replace(/\./g, '\\.')} .* B gzip`, 'm'))
  })

  it('core_script_is_at_most_1024_bytes_gzipped', () => {
    const size = gz('candor.js')
    assert.ok(size <= 1024, `candor.js is ${size} B gzipped`)
  })

  it('script_with_every_extra_is_at_most_2048_bytes_gzipped', () => {
    const files = readdirSync(out).filter((f) => f.endsWith('.js'))
    assert.ok(files.includes('candor.full.js'))
    assert.equal(files.length, 64, 'the core, every combination of the six extras, and candor.full.js')
    for (const f of files) assert.ok(gz(f) <= 2048, `${f} is ${gz(f)} B gzipped`)
  })

  it('variants_differ_only_by_the_extras_they_carry', () => {
    const core = readFileSync(join(out, 'candor.js'), 'utf8')
    const full = readFileSync(join(out, 'candor.full.js'), 'utf8')
    assert.ok(!core.includes('data-candor-form') && full.includes('data-candor-form'))
    assert.ok(!core.includes('pageleave') && full.includes('pageleave'))
    assert.ok(!core.includes('Outbound Link') && full.includes('Outbound Link'))
    assert.ok(!core.includes('/privacy/center') && full.includes('/privacy/center'))
    assert.ok(readFileSync(join(out, 'candor.forms.js'), 'utf8').includes('data-candor-form'))
  })

  it('build_fails_past_the_limit', () => {
    // The check is what stops a regression: prove it fires with a limit the core cannot meet.
    const dir = mkdtempSync(join(tmpdir(), 'candor-snippet-build-'))
    try {
      const r = spawnSync(process.execPath, [join(SNIPPET, 'build.mjs'), '--outdir', dir, '--core-limit', '500'], { encoding: 'utf8' })
      assert.equal(r.status, 1)
      assert.match(r.stdout, /^candor\.js .*OVER LIMIT/m)
      assert.match(r.stderr, /over its gzipped size limit/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
