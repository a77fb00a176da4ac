// The Leads view and People in real Chromium against the real collector. A known pattern goes
// in through /api/event, /api/identify and /api/optout; the numbers come out on screen. A
// stats:read session sees the aggregates and never a name, an email or a company, neither on
// screen nor in any answer it receives; a leads:read session sees the recent leads and a
// lead's visits.

import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { SITE, launch, record, startCollector, until } from '../../snippet/test/harness.mjs'

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts')
const PASSWORD = 'lead reports are aggregates'

const UA = {
  chrome: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  safari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15',
  edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
}
const GOOGLE = 'https://www.google.com/'

// Six visitors, one visit each; the goal is a visit to /contact.
//   Google  (2): ada /pricing → /contact, identifies on /contact; /blog (bounce)
//   Twitter (2): bram /pricing?utm_campaign=spring → /contact, identifies, later opts out;
//                cleo /landing?utm_campaign=launch → /contact, identifies
//   direct  (2): dmitri / → /contact, identifies WITHOUT marketing consent (403); /about (bounce)
// So: 6 visitors, 3 leads (the opted-out one still counts), 50% lead conversion; the funnel
// 6 visitors → 4 engaged visits → 4 goal completions → 3 leads.
const PEOPLE = {
  ada: { name: 'Ada Quillfeather', email: 'ada.quillfeather@example.org', company: 'Quillfeather Looms' },
  bram: { name: 'Bram Oxleyworth', email: 'bram.oxleyworth@example.org', company: 'Oxleyworth Freight' },
  cleo: { name: 'Cleo Marchettini', email: 'cleo.marchettini@example.org', company: 'Marchettini Studio' },
  dmitri: { name: 'Dmitri Vellanova', email: 'dmitri.vellanova@example.org', company: 'Vellanova Mining' },
}
const VISITORS = [
  { ip: '203.0.113.41', ua: UA.chrome, vid: 'vid-ada-0001', views: [['/pricing', GOOGLE], ['/contact', 'https://shop.test/pricing']], person: 'ada', consent: 'marketing' },
  { ip: '203.0.113.42', ua: UA.firefox, views: [['/blog', GOOGLE]] },
  { ip: '203.0.113.43', ua: UA.safari, vid: 'vid-bram-0002', views: [['/pricing?utm_campaign=spring', 'https://t.co/x1y2z3'], ['/contact', 'https://shop.test/pricing']], person: 'bram', consent: 'marketing', optOut: true },
  { ip: '203.0.113.44', ua: UA.edge, vid: 'vid-cleo-0003', views: [['/landing?utm_campaign=launch', 'https://twitter.com/'], ['/contact', 'https://shop.test/landing']], person: 'cleo', consent: 'marketing' },
  { ip: '203.0.113.45', ua: UA.chrome, vid: 'vid-dmitri-0004', views: [['/', null], ['/contact', 'https://shop.test/']], person: 'dmitri', consent: 'analytics' },
  { ip: '203.0.113.46', ua: UA.firefox, views: [['/about', null]] },
]
// Everything that names a person: none of it may reach a stats:read or site-password session.
const SECRETS = Object.values(PEOPLE).flatMap((p) => [p.name, p.email, p.company, p.name.split(' ')[1]])

describe('leads', () => {
  let collector, browser, newContext, statsToken, leadsToken

  const call = async (method, path, body, token = collector.token) => {
    const res = await fetch(collector.base + path, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return text ? JSON.parse(text) : null
  }
  // A beacon from one visitor's browser: its address (through the trusted proxy), its agent.
  const beacon = (v, path, body) =>
    fetch(`${collector.base}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': v.ip, 'User-Agent': v.ua, Origin: `https://${SITE}` },
      body: JSON.stringify({ site: SITE, ...body }),
    })
  const totals = (metrics) =>
    call('POST', '/api/v2/query', { site_id: SITE, metrics, date_range: 'all' }, statsToken).then((r) => String(r.results[0]?.metrics))

  before(async () => {
    collector = await startCollector({ env: { CANDOR_TRUSTED_PROXIES: '127.0.0.1/32' } })
    statsToken = (await call('POST', '/api/v1/tokens', { name: 'stats', scopes: ['stats:read'] })).token
    leadsToken = (await call('POST', '/api/v1/tokens', { name: 'crm', scopes: ['stats:read', 'leads:read'] })).token
    await call('POST', `/api/v1/sites/${SITE}/goals`, { page_path: '/contact' })
    await call('PUT', `/api/v1/sites/${SITE}/dashboard-password`, { password: PASSWORD })

    for (const v of VISITORS) {
      for (const [path, referrer] of v.views) {
        const res = await beacon(v, '/api/event', { name: 'pageview', url: `https://${SITE}${path}`, referrer, ...(v.vid ? { vid: v.vid, consent: v.consent } : {}) })
        assert.equal(res.status, 202, `${path} for ${v.ip}: ${res.status} ${res.headers.get('x-candor-drop') || ''}`)
      }
    }
    // Identify once the visits are in the store, as a form is submitted after the page loads.
    assert.equal(await until(async () => (await totals(['visitors', 'pageviews'])) === '6,10' && 'yes', { timeout: 20000 }), 'yes',
      `the seeded page views are not all queryable: ${await totals(['visitors', 'pageviews'])}`)
    for (const v of VISITORS.filter((x) => x.person)) {
      const res = await beacon(v, '/api/identify', { vid: v.vid, consent: v.consent, ...PEOPLE[v.person], url: `https://${SITE}/contact` })
      if (v.consent === 'marketing') assert.ok(res.ok, `identify ${v.person}: ${res.status} ${await res.text()}`)
      else assert.equal(res.status, 403, `identify without marketing consent: ${res.status}`)
    }
    for (const v of VISITORS.filter((x) => x.optOut)) {
      const res = await beacon(v, '/api/optout', { vid: v.vid })
      assert.ok(res.ok, `opt-out: ${res.status} ${await res.text()}`)
    }
    assert.equal(await until(async () => (await totals(['visitors', 'leads'])) === '6,3' && 'yes', { timeout: 20000 }), 'yes',
      `the seeded leads are not all counted: visitors,leads = ${await totals(['visitors', 'leads'])}`)
    ;({ browser, newContext } = await launch({ chromium }))
    mkdirSync(ARTIFACTS, { recursive: true })
  })

  after(async () => {
    await browser?.close()
    await collector?.stop()
  })

  // A page that keeps every answer body it receives, and its script errors and console
  // complaints (Chromium's own line for an expected 401 of the session check excepted).
  const open = async (path, viewport = { width: 1280, height: 800 }) => {
    const context = await newContext({ viewport })
    const rec = record(context)
    const page = await context.newPage()
    const bodies = []
    page.on('response', (r) => bodies.push(r.text().then((text) => ({ url: r.url(), text }), () => ({ url: r.url(), text: '' }))))
    await page.goto(collector.base + path)
    const problems = () =>
      [...rec.errors.map((e) => `pageerror: ${e}`),
        ...rec.consoleMessages
          .filter((m) => m.type === 'error' || m.type === 'warning')
          .filter((m) => !(/status of 401/.test(m.text) && /\/api\/dashboard\/session$/.test(m.location?.url || '')))
          .map((m) => `console.${m.type}: ${m.text} (${m.location?.url})`)]
    return { context, page, problems, rec, bodies: () => Promise.all(bodies) }
  }
  const signIn = async (page, token) => {
    await page.getByLabel('API token', { exact: true }).fill(token)
    await page.locator('#token-form').getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
  }
  const stat = (page, metric) => page.locator(`.stat[data-metric="${metric}"] .stat-value`)
  const panel = (page, id) => page.locator(`section[data-panel="${id}"]`)
  const rows = (page, id) =>
    panel(page, id).locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('th, td')].map((c) => c.innerText.trim())))
  const funnel = (page) =>
    panel(page, 'funnel').locator('li').evaluateAll((lis) => lis.map((li) =>
      [li.dataset.step, li.querySelector('.step-value').textContent, li.querySelector('.step-share').firstChild.textContent]))
  const chartTotal = (page) => page.locator('.chart-data td[data-value]').evaluateAll((tds) => tds.reduce((a, td) => a + Number(td.dataset.value), 0))
  const settled = (page) => page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'))
  const soon = async (check, timeout = 8000) => {
    const end = Date.now() + timeout
    for (;;) {
      try {
        return await check()
      } catch (e) {
        if (Date.now() > end) throw e
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }
  const sorted = (list) => [...list].sort((a, b) => Number(b[1]) - Number(a[1]) || a[0].localeCompare(b[0]))
  // No name, email or company on screen nor in any answer the page received.
  const assertNoContactDetails = async (page, bodies) => {
    const text = await page.locator('body').innerText()
    for (const s of SECRETS) assert.ok(!text.toLowerCase().includes(s.toLowerCase()), `the page shows ${s}`)
    const answers = await bodies()
    assert.ok(answers.some((b) => /\/api\/v2\/query(\/batch)?$/.test(new URL(b.url).pathname)), 'the page made report queries')
    for (const { url, text: body } of answers) {
      for (const s of SECRETS) assert.ok(!body.toLowerCase().includes(s.toLowerCase()), `${url} answered with ${s}`)
      assert.doesNotMatch(new URL(url).pathname, /^\/api\/v1\/leads/, `a stats-only session asked for ${url}`)
    }
  }

  it('a_stats_read_session_sees_lead_numbers_funnel_and_breakdowns_but_no_contact_details', async () => {
    const { context, page, problems, bodies } = await open(`/dashboard/?site=${SITE}&view=leads`)
    await signIn(page, statsToken)
    await settled(page)

    // Tiles: leads are charted by default, and the URL says which view this is.
    assert.equal(new URL(page.url()).searchParams.get('view'), 'leads')
    assert.equal(await stat(page, 'visitors').textContent(), '6')
    assert.equal(await stat(page, 'leads').textContent(), '3')
    assert.equal(await stat(page, 'lead_conversion_rate').textContent(), '50%')
    assert.equal(await page.locator('.stat[aria-pressed="true"]').getAttribute('data-metric'), 'leads')
    assert.equal(await chartTotal(page), 3, 'the chart counts the three leads')
    assert.match(await page.locator('#chart-title').textContent(), /^Leads, last 30 days/)

    // The funnel: visitors → engaged visits → goal completions → leads, shares of the first.
    assert.deepEqual(await funnel(page), [['visitors', '6', '100%'], ['engaged', '4', '66.7%'], ['goals', '4', '66.7%'], ['leads', '3', '50%']])

    // Breakdowns: leads, visitors, lead conversion per source, campaign and identifying page.
    assert.deepEqual(await rows(page, 'lead-sources'), [['Twitter', '2', '2', '100%'], ['Google', '1', '2', '50%'], ['Direct / None', '0', '2', '0%']])
    await panel(page, 'lead-sources').getByRole('tab', { name: 'UTM campaigns' }).click()
    await settled(page)
    // Visits without a campaign are "(not set)", as the Stats API names them (Plausible's engine).
    assert.deepEqual(sorted(await rows(page, 'lead-sources')), [['(not set)', '1', '4', '25%'], ['launch', '1', '1', '100%'], ['spring', '1', '1', '100%']])
    assert.deepEqual((await rows(page, 'lead-pages'))[0], ['/contact', '3', '4', '75%'])
    // Details: every row with the panel's lead metrics, searchable.
    await panel(page, 'lead-pages').getByRole('button', { name: /details, every row/ }).click()
    const details = page.getByRole('dialog')
    await soon(async () => assert.equal(await details.locator('tbody tr').count(), 6))
    await details.getByLabel('Search').fill('contact')
    await soon(async () => assert.deepEqual(await details.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => tr.textContent)), ['/contact3475%']))
    await details.getByRole('button', { name: 'Close details' }).click()
    assert.equal(await page.locator('.leads-notice .notice').count(), 0, 'no empty-state notice with leads')
    assert.equal(await page.getByRole('link', { name: 'People' }).count(), 0, 'no People without leads:read')

    // The chart follows the tiles; a row filters the whole view, shareably.
    await page.getByRole('button', { name: /^Lead conversion/ }).click()
    await page.waitForURL(/metric=lead_conversion_rate/)
    await settled(page)
    assert.match(await page.locator('#chart-title').textContent(), /^Lead conversion/)
    await panel(page, 'lead-sources').getByRole('tab', { name: 'Sources' }).click()
    await settled(page)
    await panel(page, 'lead-sources').getByRole('button', { name: 'Google' }).click()
    await page.waitForURL(/view=leads.*f=visit:source==Google/)
    await soon(async () => {
      assert.equal(await stat(page, 'visitors').textContent(), '2')
      assert.equal(await stat(page, 'leads').textContent(), '1')
      assert.equal(await stat(page, 'lead_conversion_rate').textContent(), '50%')
      assert.deepEqual(await funnel(page), [['visitors', '2', '100%'], ['engaged', '1', '50%'], ['goals', '1', '50%'], ['leads', '1', '50%']])
    })
    await page.goBack()
    await page.waitForURL((u) => !u.searchParams.has('f'))
    await soon(async () => assert.equal(await stat(page, 'leads').textContent(), '3'))
    await page.getByRole('button', { name: /^Leads/ }).click()
    await page.waitForURL((u) => !u.searchParams.has('metric'))
    await settled(page)
    assert.equal(await chartTotal(page), 3)
    await page.screenshot({ path: join(ARTIFACTS, 'leads-desktop.png'), fullPage: true })

    // A People link is no way in: the overview instead, and no lead API is ever asked.
    await page.goto(`${collector.base}/dashboard/?site=${SITE}&view=people&lead=0123456789abcdef`)
    await page.waitForURL((u) => !u.searchParams.has('lead') && !u.searchParams.has('view'))
    await settled(page)
    await assertNoContactDetails(page, bodies)
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('a_site_password_session_sees_the_leads_view_on_a_phone_and_no_contact_details', async () => {
    const { context, page, problems, bodies } = await open(`/dashboard/?site=${SITE}&view=leads`, { width: 390, height: 844 })
    await page.getByLabel('Site domain', { exact: true }).fill(SITE)
    await page.getByLabel('Dashboard password').fill(PASSWORD)
    await page.locator('#password-form').getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    await settled(page)
    assert.equal(await stat(page, 'leads').textContent(), '3')
    assert.equal(await page.getByRole('link', { name: 'People' }).count(), 0)
    await page.screenshot({ path: join(ARTIFACTS, 'leads-phone.png'), fullPage: true })

    // An empty period says how leads come in.
    await page.goto(`${collector.base}/dashboard/?site=${SITE}&view=leads&period=custom&from=2020-01-01&to=2020-01-31`)
    await settled(page)
    await soon(async () => assert.match(await page.locator('.leads-notice .notice').textContent(), /^No leads in this period\. .*forms extra/))
    assert.equal(await stat(page, 'leads').textContent(), '0')
    await page.setViewportSize({ width: 1280, height: 800 })
    await page.screenshot({ path: join(ARTIFACTS, 'leads-empty.png'), fullPage: true })
    await assertNoContactDetails(page, bodies)
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('a_leads_read_session_sees_recent_leads_and_opens_a_lead_timeline', async () => {
    const { context, page, problems } = await open(`/dashboard/?site=${SITE}&view=leads`)
    await signIn(page, leadsToken)
    await settled(page)
    await page.getByRole('link', { name: 'People' }).click()
    await page.waitForURL((u) => u.searchParams.get('view') === 'people')
    await settled(page)

    // Active leads only (the opted-out one is gone), newest first; what each row says.
    const list = await rows(page, 'people')
    assert.deepEqual(list.map((r) => r[0]).sort(), [PEOPLE.ada.name, PEOPLE.cleo.name])
    const ada = list.find((r) => r[0] === PEOPLE.ada.name)
    assert.equal(ada[1], PEOPLE.ada.company)
    assert.match(ada[2], /^\d+(\.\d)?$/, 'a score')
    assert.equal(ada[3], 'Google')
    assert.match(ada[4], /^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{2}:\d{2}$/, 'last seen')
    assert.equal(list.find((r) => r[0] === PEOPLE.cleo.name)[3], 'Twitter')
    assert.equal(await page.getByText(PEOPLE.bram.name).count(), 0, 'an opted-out lead is not listed')

    // A lead's page: details, totals and the visit, in the URL.
    await panel(page, 'people').getByRole('link', { name: PEOPLE.ada.name }).click()
    await page.waitForURL((u) => /^[0-9a-f]+$/i.test(u.searchParams.get('lead') || ''))
    await settled(page)
    const lead = panel(page, 'people')
    const check = async () => {
      assert.equal(await lead.locator('h2').textContent(), PEOPLE.ada.name)
      const text = await lead.innerText()
      assert.match(text, new RegExp(PEOPLE.ada.email.replace(/\./g, '\\.')))
      assert.match(text, new RegExp(PEOPLE.ada.company))
      assert.match(text, /Consent given\s+.+ on \/contact/i)
      assert.match(text, /Contact\s+no preference chosen/i)
      assert.equal(await lead.locator('.timeline li').count(), 1, 'one visit')
      const visit = await lead.locator('.timeline li').innerText()
      assert.match(visit, /2 pageviews/)
      assert.match(visit, /Google \(Organic Search\)/)
      assert.match(visit, /\/pricing → \/contact/)
    }
    await soon(check)
    await page.screenshot({ path: join(ARTIFACTS, 'lead-page.png'), fullPage: true })
    await page.reload()
    await settled(page)
    await soon(check)
    await page.getByRole('link', { name: '← All recent leads' }).click()
    await page.waitForURL((u) => !u.searchParams.has('lead'))
    await soon(async () => assert.equal((await rows(page, 'people')).length, 2))
    assert.deepEqual(problems(), [])
    await context.close()
  })
})
