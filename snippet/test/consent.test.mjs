// Consent decides what the device keeps: none and analytics leave nothing on it (no cookie, no
// id); marketing keeps one random first-party id, which survives reloads and disappears, with
// an opt-out to the collector, when consent is withdrawn.

import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { SITE, ensureBuilt, html, launch, record, startCollector, startRecorder, startSite, tag, until } from './harness.mjs'

describe('consent', () => {
  let collector, rec, site, browser, newContext

  before(async () => {
    ensureBuilt()
    collector = await startCollector()
    rec = await startRecorder(collector)
    const api = { 'data-site': SITE, 'data-api': rec.origin }
    site = await startSite({
      '/consent/*': () => html(tag('/js/candor.js', api)),
      '/cmp/*': () => html(tag('/js/candor.js', { ...api, 'data-consent-cookie': 'cmp_consent' })),
    })
    ;({ browser, newContext } = await launch())
  })

  after(async () => {
    await browser?.close()
    await site?.stop()
    await rec?.stop()
    await collector?.stop()
  })

  const bodies = (path, prefix) => rec.bodies(path).filter((b) => !prefix || (b.url || '').includes(prefix))
  const vidOf = (page) => page.evaluate(() => localStorage.getItem('candor_vid'))
  const storage = (page) => page.evaluate(() => ({ ...localStorage }))

  it('consent_none_leaves_no_cookie_and_no_stored_id', async () => {
    const ctx = await newContext()
    const page = await ctx.newPage()
    await page.goto(site.url('/consent/none'))
    await until(() => bodies('/api/event', '/consent/none').length >= 1)
    const [pv] = bodies('/api/event', '/consent/none')
    assert.equal(pv.consent, 'none')
    assert.equal(pv.vid, undefined)
    await page.evaluate(() => window.candor.consent('none'))
    await page.evaluate(() => window.candor.consent('analytics'))
    await page.evaluate(() => window.candor('Signup'))
    await until(() => bodies('/api/event', '/consent/none').length >= 2)
    const signup = bodies('/api/event', '/consent/none')[1]
    assert.equal(signup.consent, 'analytics')
    assert.equal(signup.vid, undefined)
    assert.deepEqual(await ctx.cookies(), [], 'cookies on any domain')
    assert.equal(await vidOf(page), null)
    // Only the level the page chose is remembered, never an identifier.
    assert.deepEqual(await storage(page), { candor_consent: 'analytics' })

    const rows = await collector.waitEvents('/consent/none', (r) => r.length >= 2)
    // (Timestamps have whole seconds: compare as a set.)
    assert.deepEqual(rows.map((r) => r.consent).sort(), ['analytics', 'none'])
    await ctx.close()
  })

  it('marketing_id_survives_a_reload_and_withdrawal_removes_it_and_opts_out', async () => {
    const ctx = await newContext()
    const page = await ctx.newPage()
    await page.goto(site.url('/consent/marketing'))
    await page.evaluate(() => window.candor.consent('marketing'))
    const vid = await vidOf(page)
    assert.match(vid, /^\d{20,40}$/, '128 random bits as digits')
    assert.deepEqual(await ctx.cookies(), [], 'the id is not a cookie')

    await page.reload()
    assert.equal(await vidOf(page), vid, 'the same id after a reload')
    await until(() => bodies('/api/event', '/consent/marketing').length >= 2)
    const after = bodies('/api/event', '/consent/marketing')[1]
    assert.equal(after.consent, 'marketing')
    assert.equal(after.vid, vid)

    // Another visitor gets another id.
    const other = await newContext()
    const otherPage = await other.newPage()
    await otherPage.goto(site.url('/consent/second-visitor'))
    await otherPage.evaluate(() => window.candor.consent('marketing'))
    assert.notEqual(await vidOf(otherPage), vid)
    await other.close()

    await page.evaluate(() => window.candor.consent('analytics'))
    assert.equal(await vidOf(page), null, 'withdrawal deletes the id')
    await until(() => bodies('/api/optout').some((b) => b.vid === vid))
    assert.deepEqual(bodies('/api/optout').find((b) => b.vid === vid), { vid, site: SITE })
    await page.evaluate(() => window.candor('After'))
    await until(() => bodies('/api/event', '/consent/marketing').length >= 3)
    const withdrawn = bodies('/api/event', '/consent/marketing')[2]
    assert.equal(withdrawn.consent, 'analytics')
    assert.equal(withdrawn.vid, undefined)

    const rows = await collector.waitEvents('/consent/marketing', (r) => r.length >= 3)
    assert.ok(rows.some((r) => r.consent === 'marketing'), JSON.stringify(rows))
    await ctx.close()
  })

  it('identify_without_marketing_consent_warns_and_sends_nothing', async () => {
    const ctx = await newContext()
    const r = record(ctx)
    const page = await ctx.newPage()
    await page.goto(site.url('/consent/identify-refused'))
    await page.evaluate(() => window.candor.identify({ email: 'nobody@example.com', name: 'No Body' }))
    await page.waitForTimeout(300)
    assert.ok(r.consoleMessages.some((m) => m.type === 'warning' && m.text.includes('marketing consent')))
    assert.equal(r.requests.filter((x) => x.url.endsWith('/api/identify')).length, 0)
    assert.ok(!rec.log.some((e) => e.body.includes('nobody@example.com')))
    await ctx.close()
  })

  it('identify_with_marketing_consent_posts_the_contact_with_the_id', async () => {
    const ctx = await newContext()
    const page = await ctx.newPage()
    await page.goto(site.url('/consent/identify'))
    await page.evaluate(() => {
      window.candor.consent('marketing')
      window.candor.identify({ email: 'ada@example.com', name: 'Ada Lovelace', company: 'Analytical Engines', phone: '555' })
    })
    const vid = await vidOf(page)
    await until(() => bodies('/api/identify').some((b) => b.email === 'ada@example.com'))
    const body = bodies('/api/identify').find((b) => b.email === 'ada@example.com')
    assert.deepEqual(body, {
      site: SITE,
      vid,
      consent: 'marketing',
      email: 'ada@example.com',
      name: 'Ada Lovelace',
      company: 'Analytical Engines',
      url: site.url('/consent/identify'),
    })
    const entry = await until(() => rec.log.find((e) => e.path === '/api/identify' && e.status !== null))
    assert.ok(entry.status < 300, `the collector answered /api/identify with ${entry.status}`)
    await ctx.close()
  })

  it('withdrawal_opt_out_is_accepted_by_the_collector', async () => {
    const ctx = await newContext()
    const page = await ctx.newPage()
    await page.goto(site.url('/consent/withdraw'))
    await page.evaluate(() => window.candor.consent('marketing'))
    const vid = await vidOf(page)
    await page.evaluate(() => window.candor.optOut())
    assert.equal(await vidOf(page), null)
    const entry = await until(() => rec.log.find((e) => e.path === '/api/optout' && e.body.includes(vid) && e.status !== null))
    assert.ok(entry, 'the opt-out was sent')
    assert.ok(entry.status < 300, `the collector answered /api/optout with ${entry.status}`)
    await ctx.close()
  })

  it('consent_manager_cookie_sets_the_level_and_its_withdrawal_removes_the_id', async () => {
    const ctx = await newContext()
    await ctx.addCookies([{ name: 'cmp_consent', value: 'marketing', url: site.url('/') }])
    const page = await ctx.newPage()
    await page.goto(site.url('/cmp/'))
    await until(() => bodies('/api/event', '/cmp/').length >= 1)
    const vid = await vidOf(page)
    assert.ok(vid)
    assert.equal(bodies('/api/event', '/cmp/')[0].consent, 'marketing')
    assert.equal(bodies('/api/event', '/cmp/')[0].vid, vid)

    // The cookie wins over what the page set, and is read again at each event.
    await page.evaluate(() => window.candor.consent('none'))
    assert.equal(await vidOf(page), vid)
    for (const [value, level] of [
      ['all', 'marketing'],
      ['statistics', 'analytics'],
      ['analytics', 'analytics'],
      ['necessary', 'none'],
    ]) {
      await page.evaluate((v) => (document.cookie = `cmp_consent=${v}; path=/`), value)
      const n = bodies('/api/event', '/cmp/').length
      await page.evaluate((v) => window.candor('Level', { props: { cookie: v } }), value)
      await until(() => bodies('/api/event', '/cmp/').length > n)
      assert.equal(bodies('/api/event', '/cmp/')[n].consent, level, `cookie value ${value}`)
    }
    assert.equal(await vidOf(page), null)
    await until(() => bodies('/api/optout').some((b) => b.vid === vid))
    await ctx.close()
  })
})
