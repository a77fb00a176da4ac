// The opt-in extras: form capture (only marked fields, only with marketing consent, never a
// password), engagement time, outbound-link and file-download clicks.

import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { SITE, ensureBuilt, html, launch, record, startCollector, startRecorder, startSite, tag, until } from './harness.mjs'

const PASSWORD = 'Tr0ub4dor&3-never-sent'
const HIDDEN = 'csrf-4f1c9e-never-sent'
const UNMARKED = '+1-555-0100-never-sent'

const FORM = `
<form data-candor-form method="post" action="/thanks">
  <input type="email" data-candor-field="email" name="email">
  <input type="text" data-candor-field="name" name="fullname">
  <input type="text" data-candor-field="company" name="org">
  <input type="tel" name="phone">
  <input type="password" data-candor-field="email" name="password">
  <input type="hidden" data-candor-field="name" name="csrf" value="${HIDDEN}">
  <button type="submit">Send</button>
</form>`

describe('extras', () => {
  let collector, rec, site, browser, newContext

  before(async () => {
    ensureBuilt()
    collector = await startCollector()
    rec = await startRecorder(collector)
    const api = { 'data-site': SITE, 'data-api': rec.origin }
    site = await startSite({
      '/form/*': () => html(tag('/js/candor.forms.js', { ...api, 'data-track': 'forms' }), FORM),
      '/thanks': () => html('', 'thanks'),
      '/engaged/*': () => html(tag('/js/candor.engagement.js', { ...api, 'data-track': 'engagement' })),
      '/links/*': () =>
        html(
          tag('/js/candor.full.js', { ...api, 'data-track': 'outbound, downloads' }),
          `<a id="out" href="https://partner.example/pricing?ref=shop#top">partner</a>
           <a id="pdf" href="/files/report.pdf?token=secret">report</a>
           <a id="attr" href="/export" download>export</a>
           <a id="inner" href="/links/other">inner</a>
           <script>for (const t of ['click', 'auxclick']) document.addEventListener(t, (e) => e.preventDefault())</script>`,
        ),
      '/core-links/*': () =>
        html(
          tag('/js/candor.js', { ...api, 'data-track': 'outbound downloads' }),
          `<a id="out" href="https://partner.example/">partner</a>
           <script>document.addEventListener('click', (e) => e.preventDefault())</script>`,
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

  const fill = async (page, email) => {
    await page.fill('[name=email]', email)
    await page.fill('[name=fullname]', '  Grace Hopper ')
    await page.fill('[name=org]', 'Navy')
    await page.fill('[name=phone]', UNMARKED)
    await page.fill('[name=password]', PASSWORD)
  }

  it('form_capture_sends_only_marked_fields_and_never_a_password', async () => {
    const ctx = await newContext()
    const r = record(ctx)
    const page = await ctx.newPage()
    await page.goto(site.url('/form/'))
    await page.evaluate(() => window.candor.consent('marketing'))
    const vid = await page.evaluate(() => localStorage.getItem('candor_vid'))
    await fill(page, 'grace@example.com')
    await Promise.all([page.waitForURL('**/thanks'), page.click('button')])

    await until(() => rec.bodies('/api/identify').some((b) => b.email === 'grace@example.com'))
    const body = rec.bodies('/api/identify').find((b) => b.email === 'grace@example.com')
    assert.deepEqual(body, {
      site: SITE,
      vid,
      consent: 'marketing',
      email: 'grace@example.com',
      name: 'Grace Hopper',
      company: 'Navy',
      url: site.url('/form/'),
    })

    // Every request the browser made, and every byte that reached the collector, except the
    // form's own POST to its site (the host page's business, not the snippet's).
    const own = (x) => x.method === 'POST' && x.url === site.url('/thanks')
    const seen = [
      ...r.requests.filter((x) => !own(x)).map((x) => x.url + ' ' + x.body),
      ...rec.log.map((e) => e.path + ' ' + e.body),
    ]
    assert.ok(r.requests.some(own), 'the form was really submitted')
    for (const secret of [PASSWORD, HIDDEN, UNMARKED]) {
      assert.deepEqual(
        seen.filter((s) => s.includes(secret)),
        [],
        `${secret} leaked`,
      )
    }
    await ctx.close()
  })

  it('form_capture_without_marketing_consent_sends_nothing', async () => {
    const ctx = await newContext()
    const r = record(ctx)
    const page = await ctx.newPage()
    await page.goto(site.url('/form/no-consent'))
    await fill(page, 'linus@example.com')
    await Promise.all([page.waitForURL('**/thanks'), page.click('button')])
    await page.waitForTimeout(300)
    assert.equal(r.requests.filter((x) => x.url.includes('/api/identify')).length, 0)
    assert.ok(!rec.log.some((e) => e.body.includes('linus@example.com')))
    await ctx.close()
  })

  it('engagement_reports_visible_focused_time_on_leaving', async () => {
    const ctx = await newContext()
    const page = await ctx.newPage()
    await page.goto(site.url('/engaged/first'))
    await page.waitForTimeout(1200)
    // An SPA route change closes the first page ...
    await page.evaluate(() => history.pushState({}, '', '/engaged/second'))
    await page.waitForTimeout(600)
    // ... and leaving the site closes the second.
    await page.goto(site.url('/thanks'))
    const leaves = () => rec.bodies().filter((b) => b.name === 'pageleave' && b.url.includes('/engaged/'))
    await until(() => leaves().length >= 2)
    await page.waitForTimeout(300)
    // One pageleave per page left: pagehide and visibilitychange do not both report.
    assert.equal(leaves().length, 2, JSON.stringify(leaves()))
    const [first, second] = leaves()
    assert.equal(first.url, site.url('/engaged/first'))
    assert.ok(first.engaged_ms >= 1000 && first.engaged_ms < 10000, `first: ${first.engaged_ms} ms`)
    assert.equal(second.url, site.url('/engaged/second'))
    assert.ok(second.engaged_ms >= 400 && second.engaged_ms < 10000, `second: ${second.engaged_ms} ms`)
    assert.ok(Number.isInteger(first.engaged_ms))

    const rows = await collector.waitEvents('/engaged/', (x) => x.filter((e) => e.name === 'pageleave').length >= 2)
    const stored = rows.filter((e) => e.name === 'pageleave')
    assert.equal(stored.length, 2, JSON.stringify(rows))
    assert.ok(Number(stored.find((e) => e.pathname === '/engaged/first').engaged_ms) >= 1000)
    await ctx.close()
  })

  it('outbound_and_download_clicks_are_events_without_query_strings', async () => {
    const ctx = await newContext()
    const page = await ctx.newPage()
    await page.goto(site.url('/links/'))
    await page.click('#out')
    await page.click('#pdf')
    await page.click('#attr')
    await page.click('#inner')
    await page.click('#out', { button: 'middle' })
    const clicks = () => rec.bodies().filter((b) => b.url.includes('/links/') && b.name !== 'pageview')
    await until(() => clicks().length >= 4)
    await page.waitForTimeout(300)
    assert.deepEqual(
      clicks().map((b) => [b.name, b.props.url]),
      [
        ['Outbound Link: Click', 'https://partner.example/pricing'],
        ['File Download', site.url('/files/report.pdf')],
        ['File Download', site.url('/export')],
        ['Outbound Link: Click', 'https://partner.example/pricing'],
      ],
    )
    await ctx.close()
  })

  it('core_script_ignores_extras_it_does_not_carry', async () => {
    const ctx = await newContext()
    const r = record(ctx)
    const page = await ctx.newPage()
    await page.goto(site.url('/core-links/'))
    await page.click('#out')
    await page.waitForTimeout(300)
    assert.deepEqual(
      rec.bodies().filter((b) => b.url.includes('/core-links/')).map((b) => b.name),
      ['pageview'],
    )
    assert.deepEqual(r.errors, [])
    await ctx.close()
  })
})
