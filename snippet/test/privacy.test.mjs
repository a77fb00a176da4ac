// The visitor's word is final: DNT, GPC, automation and an opt-out each mean that not one
// request leaves the page and not one row is stored. Local pages send nothing either, and a
// dead collector never surfaces as an error on the host page.

import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import {
  SITE,
  ensureBuilt,
  freePort,
  html,
  launch,
  record,
  startCollector,
  startRecorder,
  startSite,
  tag,
  until,
} from './harness.mjs'

// Each signal as a real visitor's browser would expose it, set before any page script runs.
const SIGNALS = {
  dnt: `Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1', configurable: true })`,
  gpc: `Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true })`,
  webdriver: `Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => true, configurable: true })`,
}

describe('privacy signals', () => {
  let collector, rec, site, browser, newContext, deadPort

  before(async () => {
    ensureBuilt()
    collector = await startCollector()
    rec = await startRecorder(collector)
    deadPort = await freePort()
    const api = { 'data-site': SITE, 'data-api': rec.origin }
    site = await startSite({
      '/private/*': () => html(tag('/js/candor.full.js', { ...api, 'data-track': 'outbound downloads forms engagement hash' })),
      '/barrier/*': () => html(tag('/js/candor.js', api)),
      '/optout/*': () => html(tag('/js/candor.js', api)),
      '/local/*': () => html(tag('/js/candor.js', api)),
      '/local-allowed/*': () => html(tag('/js/candor.js', { ...api, 'data-allow-local': true })),
      '/down/*': () =>
        html(
          tag('/js/candor.full.js', {
            'data-site': SITE,
            'data-api': `http://collector.test:${deadPort}`,
            'data-track': 'outbound downloads forms engagement hash',
          }),
          `<form data-candor-form onsubmit="event.preventDefault()"><input data-candor-field="email" value="a@b.example"><button>go</button></form>`,
        ),
    })
    ;({ browser, newContext } = await launch())
  })

  after(async () => {
    await browser?.close()
    await site?.stop()
    await rec?.stop()
    await collector?.stop()
  })

  // Parsed bodies of what reached the collector mentioning `prefix`.
  const sentUnder = (prefix) => rec.log.filter((e) => e.body.includes(prefix)).map((e) => JSON.parse(e.body))

  // Everything a page could send: a page view, SPA navigations, a custom event, consent with an
  // id, identify, a form, a pageleave.
  const exercise = async (page) => {
    await page.evaluate(() => {
      window.candor('Signup', { props: { plan: 'pro' } })
      history.pushState({}, '', location.pathname + 'next')
      location.hash = '#/x'
      window.candor.consent('marketing')
      window.candor.identify({ email: 'visitor@example.com' })
    })
    await page.waitForTimeout(500)
    await page.goto('about:blank')
  }

  // A visit without any signal whose row is awaited: the batcher then has flushed whatever
  // arrived before it, so "no rows" below is an answer and not an unfinished wait.
  const barrier = async () => {
    const ctx = await newContext()
    const page = await ctx.newPage()
    const path = `/barrier/${Math.random().toString(36).slice(2)}`
    await page.goto(site.url(path))
    const rows = await collector.waitEvents(path, (r) => r.length >= 1)
    assert.equal(rows.length, 1, 'the barrier page view was stored')
    await ctx.close()
  }

  for (const [signal, script] of Object.entries(SIGNALS)) {
    it(`${signal}_sends_no_request_and_stores_no_row`, async () => {
      const ctx = await newContext()
      await ctx.addInitScript(script)
      const r = record(ctx)
      const page = await ctx.newPage()
      await page.goto(site.url(`/private/${signal}/`))
      assert.equal(await page.evaluate(() => typeof window.candor.consent), 'function', 'the script ran')
      await exercise(page)
      assert.deepEqual(r.to(rec.port).map((x) => x.url), [], 'requests to the collector')
      assert.deepEqual(sentUnder(`/private/${signal}/`), [])
      assert.deepEqual(r.errors, [])
      // Even consent('marketing') stores no id for such a visitor.
      const check = await ctx.newPage()
      await check.goto(site.url(`/private/${signal}/again`))
      await check.evaluate(() => window.candor.consent('marketing'))
      assert.equal(await check.evaluate(() => localStorage.getItem('candor_vid')), null)
      assert.deepEqual(r.to(rec.port).map((x) => x.url), [])
      await ctx.close()

      await barrier()
      assert.deepEqual(await collector.events(`/private/${signal}/`), [])
    })
  }

  it('opt_out_is_persisted_and_sends_nothing_until_opt_in', async () => {
    const ctx = await newContext()
    const r = record(ctx)
    const page = await ctx.newPage()
    await page.goto(site.url('/optout/'))
    await until(() => sentUnder('/optout/').length >= 1)
    await page.evaluate(() => window.candor.optOut())
    assert.equal(await page.evaluate(() => localStorage.getItem('candor_ignore')), '1')
    const before = r.to(rec.port).length
    await page.reload()
    await page.evaluate(() => {
      window.candor('Signup')
      history.pushState({}, '', '/optout/next')
    })
    await page.waitForTimeout(500)
    assert.equal(r.to(rec.port).length, before, 'nothing sent while opted out')

    await page.evaluate(() => window.candor.optIn())
    assert.equal(await page.evaluate(() => localStorage.getItem('candor_ignore')), null)
    await page.goto(site.url('/optout/back'))
    await until(() => sentUnder('/optout/back').length >= 1)
    assert.equal(sentUnder('/optout/back')[0].name, 'pageview')
    await ctx.close()
  })

  it('local_pages_send_nothing_unless_allowed', async () => {
    const ctx = await newContext()
    const r = record(ctx)
    const page = await ctx.newPage()
    for (const host of ['localhost', '127.0.0.1']) {
      await page.goto(`http://${host}:${site.port}/local/`)
      await page.evaluate(() => window.candor('Signup'))
    }
    await page.waitForTimeout(300)
    assert.deepEqual(r.to(rec.port).map((x) => x.url), [])

    await page.goto(`http://localhost:${site.port}/local-allowed/`)
    await until(() => r.to(rec.port).length >= 1)
    assert.equal(new URL(r.to(rec.port)[0].url).pathname, '/api/event')
    await ctx.close()
  })

  it('collector_down_raises_no_exception_and_no_script_console_error', async () => {
    const ctx = await newContext()
    const r = record(ctx)
    const page = await ctx.newPage()
    await page.goto(site.url('/down/'))
    await page.evaluate(() => {
      window.candor('Signup', { props: { plan: 'pro' } })
      history.pushState({}, '', '/down/next')
      window.candor.consent('marketing')
      window.candor.identify({ email: 'visitor@example.com' })
      window.candor.consent('none')
    })
    await page.click('button')
    await page.waitForTimeout(500)
    await page.goto('about:blank')
    assert.ok(r.requests.filter((x) => x.url.includes(`:${deadPort}/`)).length >= 4, 'the script did try')
    assert.deepEqual(r.errors, [], 'uncaught exceptions')
    // Chromium itself logs each refused connection as "Failed to load resource" at the
    // collector's URL; anything else at error level would come from the script.
    const scriptErrors = r.consoleMessages.filter(
      (m) => m.type === 'error' && !(m.text.startsWith('Failed to load resource') && m.location.url.includes(`:${deadPort}/`)),
    )
    assert.deepEqual(scriptErrors, [])
    await ctx.close()
  })
})
