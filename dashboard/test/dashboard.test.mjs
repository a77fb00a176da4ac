// The dashboard in real Chromium against the real collector: a known data set goes in through
// POST /api/event, and the numbers come out on screen, through filters, the URL, the chart
// and the CSV export.

import assert from 'node:assert/strict'
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { SITE, launch, record, startCollector, until } from '../../snippet/test/harness.mjs'

const DASHBOARD = join(dirname(fileURLToPath(import.meta.url)), '..')
const ARTIFACTS = join(DASHBOARD, 'test-artifacts')
const OTHER_SITE = 'blog.test'
const PASSWORD = 'correct horse battery staple'

const UA = {
  chrome: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  safari: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15',
  edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
}
const GOOGLE = 'https://www.google.com/'

// Six visitors, one visit each, eight page views:
//   Google  (3): /pricing → /checkout; /pricing; /blog
//   Twitter (2): / (from t.co); /about (from twitter.com)
//   direct  (1): / → /about
const VISITORS = [
  { ip: '203.0.113.11', ua: UA.chrome, views: [['/pricing', GOOGLE], ['/checkout', 'https://shop.test/pricing']] },
  { ip: '203.0.113.12', ua: UA.firefox, views: [['/pricing', GOOGLE]] },
  { ip: '203.0.113.13', ua: UA.safari, views: [['/blog', GOOGLE]] },
  { ip: '203.0.113.21', ua: UA.edge, views: [['/', 'https://t.co/x1y2z3']] },
  { ip: '203.0.113.22', ua: UA.chrome, views: [['/about', 'https://twitter.com/']] },
  { ip: '203.0.113.31', ua: UA.firefox, views: [['/', null], ['/about', 'https://shop.test/']] },
]

describe('dashboard', () => {
  let collector, browser, newContext, statsToken

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

  before(async () => {
    collector = await startCollector({ sites: `${SITE},${OTHER_SITE}`, env: { CANDOR_TRUSTED_PROXIES: '127.0.0.1/32' } })
    const index = await fetch(`${collector.base}/dashboard/`)
    assert.equal(index.status, 200, 'the collector serves /dashboard/: rebuild it after `npm run build` (make dashboard)')
    assert.equal(await index.text(), readFileSync(join(DASHBOARD, 'dist/index.html'), 'utf8'), 'the collector embeds this build of the dashboard')

    statsToken = (await call('POST', '/api/v1/tokens', { name: 'dash', scopes: ['stats:read'] })).token
    await call('POST', `/api/v1/sites/${SITE}/goals`, { page_path: '/checkout' })
    await call('PUT', `/api/v1/sites/${SITE}/dashboard-password`, { password: PASSWORD })

    for (const v of VISITORS) {
      for (const [path, referrer] of v.views) {
        const res = await fetch(`${collector.base}/api/event`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': v.ip, 'User-Agent': v.ua, Origin: `https://${SITE}` },
          body: JSON.stringify({ site: SITE, name: 'pageview', url: `https://${SITE}${path}`, referrer }),
        })
        assert.equal(res.status, 202, `${path} for ${v.ip}: ${res.status} ${res.headers.get('x-candor-drop') || ''}`)
      }
    }
    // Events are batched: wait until every one is queryable.
    const totals = () =>
      call('POST', '/api/v2/query', { site_id: SITE, metrics: ['visitors', 'pageviews'], date_range: 'all' }, statsToken)
        .then((r) => r.results[0]?.metrics)
    const seen = await until(async () => String(await totals()) === '6,8' && 'yes', { timeout: 20000 })
    assert.equal(seen, 'yes', `the seeded events are not all queryable: ${await totals()}`)
    ;({ browser, newContext } = await launch({ chromium }))
  })

  after(async () => {
    await browser?.close()
    await collector?.stop()
  })

  // A page with every console message and script error recorded. The only error the console
  // may show is Chromium's own line for an expected 401 (not signed in, wrong credentials).
  const open = async (path = '/dashboard/') => {
    const context = await newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } })
    const rec = record(context)
    const page = await context.newPage()
    await page.goto(collector.base + path)
    const problems = () =>
      [...rec.errors.map((e) => `pageerror: ${e}`),
        ...rec.consoleMessages
          .filter((m) => m.type === 'error' || m.type === 'warning')
          .filter((m) => !(/status of 401/.test(m.text) && /\/api\/dashboard\/(session|login)$/.test(m.location?.url || '')))
          .map((m) => `console.${m.type}: ${m.text} (${m.location?.url})`)]
    return { context, page, problems }
  }

  const signInWithToken = async (page, token = statsToken) => {
    await page.getByLabel('API token', { exact: true }).fill(token)
    await page.locator('#token-form').getByRole('button', { name: 'Sign in' }).click()
  }

  // The text of a top stat's value, once the totals have loaded.
  const stat = (page, metric) => page.locator(`.stat[data-metric="${metric}"] .stat-value`)
  const panel = (page, id) => page.locator(`section[data-panel="${id}"]`)
  // A panel's rows as [label, ...metric cells].
  const rows = (page, id) =>
    panel(page, id).locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('th, td')].map((c) => c.textContent.trim())))
  const chartTotal = (page) =>
    page.locator('.chart-data td[data-value]').evaluateAll((tds) => tds.reduce((a, td) => a + Number(td.dataset.value), 0))
  const settled = (page) => page.waitForFunction(() => !document.querySelector('[aria-busy="true"]'))
  // Retries `check` until it passes: after a navigation the screen catches up asynchronously.
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
  const sorted = (list) => [...list].sort(byCountThenName)
  // CSV lines: the header, then the rows in an order that ignores ties.
  const csvLines = (text) => {
    assert.ok(text.endsWith('\r\n'))
    const [header, ...body] = text.slice(0, -2).split('\r\n')
    return [header, ...sorted(body.map((l) => l.split(','))).map((r) => r.join(','))]
  }

  it('sign_in_announces_wrong_token_and_wrong_password_and_accepts_the_site_password', async () => {
    const { context, page, problems } = await open()
    await page.getByLabel('API token', { exact: true }).waitFor()
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'token', 'the first field has focus')
    assert.equal(await page.getAttribute('html', 'lang'), 'en')

    await signInWithToken(page, 'cnd_not-a-real-token')
    const tokenError = page.locator('#token-form [role="alert"]')
    await tokenError.filter({ hasText: 'not accepted' }).waitFor()
    assert.equal(await page.getByLabel('API token', { exact: true }).getAttribute('aria-invalid'), 'true')
    assert.equal(await page.getByLabel('API token', { exact: true }).getAttribute('aria-describedby'), await tokenError.getAttribute('id'))

    await page.getByLabel('Site domain', { exact: true }).fill(SITE)
    await page.getByLabel('Dashboard password').fill('not the password')
    await page.locator('#password-form').getByRole('button', { name: 'Sign in' }).click()
    await page.locator('#password-form [role="alert"]').filter({ hasText: 'Wrong site or password.' }).waitFor()

    await page.getByLabel('Dashboard password').fill(PASSWORD)
    await page.locator('#password-form').getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    // A site password opens that site only.
    assert.deepEqual(await page.locator('#site option').allTextContents(), [SITE])
    await settled(page)
    assert.equal(await stat(page, 'visitors').textContent(), '6')

    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.getByLabel('API token', { exact: true }).waitFor()
    await page.reload()
    await page.getByLabel('API token', { exact: true }).waitFor()
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('shows_seeded_totals_chart_and_panels_and_filters_everything_by_a_clicked_source', async () => {
    const { context, page, problems } = await open()
    await signInWithToken(page)
    await page.getByLabel('Site', { exact: true }).selectOption(SITE)
    await page.waitForURL((u) => u.searchParams.get('site') === SITE)
    await settled(page)

    // Top stats and current visitors.
    assert.equal(await stat(page, 'visitors').textContent(), '6')
    assert.equal(await stat(page, 'visits').textContent(), '6')
    assert.equal(await stat(page, 'pageviews').textContent(), '8')
    assert.equal(await stat(page, 'bounce_rate').textContent(), '67%')
    await soon(async () => assert.equal(await page.locator('.realtime').textContent(), '6 current visitors'))

    // The chart: a uPlot canvas, and its data (the screen-reader table) adds up to the visitors.
    assert.equal(await page.locator('.chart .uplot canvas').count(), 1)
    assert.equal(await chartTotal(page), 6)
    assert.equal(await page.locator('.chart-data tbody tr').count(), 30, 'one bucket per day of the last 30 days')

    // Panels.
    await panel(page, 'sources').getByRole('tab', { name: 'Sources', exact: true }).click()
    await settled(page)
    assert.deepEqual(await rows(page, 'sources'), [['Google', '3'], ['Twitter', '2'], ['Direct / None', '1']])
    assert.deepEqual(sorted(await rows(page, 'pages')), [['/', '2', '2'], ['/about', '2', '2'], ['/pricing', '2', '2'], ['/blog', '1', '1'], ['/checkout', '1', '1']])
    assert.deepEqual((await rows(page, 'goals')).map((r) => r.slice(0, 3)), [['Visit /checkout', '1', '1']])
    await panel(page, 'devices').getByRole('tab', { name: 'Browsers' }).click()
    await settled(page)
    assert.deepEqual((await rows(page, 'devices')).map((r) => r[0]).sort(), ['Chrome', 'Firefox', 'Microsoft Edge', 'Safari'])
    for (const id of ['sources', 'pages', 'locations', 'devices', 'orgs', 'goals']) {
      assert.equal(await panel(page, id).locator('h2').count(), 1, `${id} has a heading`)
    }
    assert.equal(await page.locator('.error').count(), 0, await page.locator('.error').allTextContents().then(String))

    // Click Google: the URL, every panel, the totals and the chart follow.
    await panel(page, 'sources').getByRole('button', { name: 'Google' }).click()
    await page.waitForURL(/[?&]f=visit:source==Google(&|$)/)
    await settled(page)
    const filtered = () => soon(async () => {
      assert.equal(await stat(page, 'visitors').textContent(), '3')
      assert.equal(await stat(page, 'pageviews').textContent(), '4')
      assert.equal(await chartTotal(page), 3)
      assert.deepEqual(await rows(page, 'sources'), [['Google', '3']])
      assert.deepEqual(sorted(await rows(page, 'pages')), [['/pricing', '2', '2'], ['/blog', '1', '1'], ['/checkout', '1', '1']])
      assert.deepEqual((await rows(page, 'devices')).map((r) => r[0]).sort(), ['Chrome', 'Firefox', 'Safari'])
      assert.equal(await page.getByRole('button', { name: 'Remove filter: Source is Google' }).count(), 1)
    })
    await filtered()

    // CSV of the filtered Pages breakdown.
    const [download] = await Promise.all([page.waitForEvent('download'), panel(page, 'pages').getByRole('button', { name: /as CSV$/ }).click()])
    assert.equal(download.suggestedFilename(), 'page.csv')
    assert.deepEqual(csvLines(readFileSync(await download.path(), 'utf8')), ['Page,visitors,pageviews', '/pricing,2,2', '/blog,1,1', '/checkout,1,1'])

    // A reload keeps the filter; back and forward move between the views.
    await page.reload()
    await settled(page)
    await stat(page, 'visitors').waitFor()
    await filtered()
    await page.goBack()
    await page.waitForURL((u) => !u.searchParams.has('f'))
    await soon(async () => {
      assert.equal(await stat(page, 'visitors').textContent(), '6')
      assert.equal(await chartTotal(page), 6)
      assert.equal(await page.locator('.chip').count(), 0)
    })
    await page.goForward()
    await page.waitForURL(/f=visit:source==Google/)
    await filtered()

    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true })

    // Removing the chip by keyboard brings the totals back.
    await page.getByRole('button', { name: 'Remove filter: Source is Google' }).focus()
    await page.keyboard.press('Enter')
    await page.waitForURL((u) => !u.searchParams.has('f'))
    await soon(async () => assert.equal(await stat(page, 'visitors').textContent(), '6'))

    // A goal row filters to the visitors who converted: the one who reached /checkout.
    await panel(page, 'goals').getByRole('button', { name: 'Visit /checkout' }).click()
    await page.waitForURL(/[?&]f=event:goal==Visit%20\/checkout(&|$)/)
    await soon(async () => {
      assert.equal(await stat(page, 'visitors').textContent(), '1')
      // The panels count conversions: one of Google's three visitors converted.
      assert.deepEqual(sorted(await rows(page, 'sources')), [['Google', '1', '33.3%']])
    })
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('a_view_goes_out_in_a_few_batches_and_a_failing_query_errors_only_its_own_panel', async () => {
    const { context, page, problems } = await open(`/dashboard/?site=${SITE}&f=visit:source==Google`)
    // Every report request of the page, with the queries it carries.
    const sent = []
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname
      if (path.endsWith('/api/v2/query')) sent.push([JSON.parse(r.postData())])
      if (path.endsWith('/api/v2/query/batch')) sent.push(JSON.parse(r.postData()).queries)
    })
    await signInWithToken(page)
    await settled(page)
    await soon(async () => assert.equal(await stat(page, 'visitors').textContent(), '3'))

    // Tiles, chart and panels (each with the period before where it has one): one or a few
    // batches, not a request each.
    const queries = sent.flat()
    assert.ok(queries.length >= 10, `${queries.length} report queries`)
    assert.ok(sent.length >= 1 && sent.length <= 3, `${sent.length} requests for ${queries.length} queries`)

    // What the screen shows is what each query gets alone from POST /api/v2/query.
    const totals = await call('POST', '/api/v2/query', queries.find((q) => !q.dimensions), statsToken)
    assert.equal(await stat(page, 'visitors').textContent(), String(totals.results[0].metrics[0]))
    const pages = await call('POST', '/api/v2/query', queries.find((q) => q.dimensions?.[0] === 'event:page'), statsToken)
    assert.deepEqual(sorted(await rows(page, 'pages')), sorted(pages.results.map((r) => [r.dimensions[0], ...r.metrics.map(String)])))
    assert.deepEqual(sorted(await rows(page, 'pages')), [['/pricing', '2', '2'], ['/blog', '1', '1'], ['/checkout', '1', '1']])

    // The pages query of the batch made invalid (an unclosed regular expression): the server
    // answers it 400 within the batch, its panel says so, and everything else still shows.
    await page.route('**/api/v2/query/batch', (route) => {
      const body = JSON.parse(route.request().postData())
      for (const q of body.queries) if (q.dimensions?.[0] === 'event:page') q.filters.push(['matches', 'event:page', ['(']])
      return route.continue({ postData: JSON.stringify(body) })
    })
    await page.reload()
    await settled(page)
    await soon(async () => assert.match(await panel(page, 'pages').locator('.error').textContent(), /^Could not load top pages: invalid regular expression/))
    assert.equal(await page.locator('.error').count(), 1, 'only the pages panel failed')
    assert.equal(await stat(page, 'visitors').textContent(), '3')
    assert.equal(await chartTotal(page), 3)
    for (const id of ['sources', 'devices', 'goals']) assert.ok((await rows(page, id)).length > 0, `${id} has rows`)
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('csv_export_downloads_every_row_of_a_breakdown', async () => {
    const { context, page, problems } = await open(`/dashboard/?site=${SITE}&period=7d`)
    await signInWithToken(page)
    await settled(page)
    await panel(page, 'sources').getByRole('tab', { name: 'Sources', exact: true }).click()
    await settled(page)
    const [download] = await Promise.all([page.waitForEvent('download'), panel(page, 'sources').getByRole('button', { name: 'Download Sources: Sources as CSV' }).click()])
    assert.equal(download.suggestedFilename(), 'source.csv')
    assert.equal(readFileSync(await download.path(), 'utf8'), 'Source,visitors\r\nGoogle,3\r\nTwitter,2\r\nDirect / None,1\r\n')
    assert.match(await panel(page, 'sources').locator('[role="status"]').textContent(), /Downloaded source\.csv \(3 rows\)/)
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('period_metric_and_layout_follow_the_controls', async () => {
    const { context, page, problems } = await open(`/dashboard/?site=${SITE}`)
    await signInWithToken(page)
    await settled(page)
    await page.getByLabel('Period', { exact: true }).selectOption('day')
    await page.waitForURL(/period=day/)
    await settled(page)
    // Hourly buckets for today up to the current hour (the site is on UTC): none in the future.
    assert.equal(await page.locator('.chart-data tbody tr').count(), new Date().getUTCHours() + 1, 'hourly buckets for today, up to now')
    assert.equal(await chartTotal(page), 6)
    await page.getByRole('button', { name: /^Pageviews/ }).click()
    await page.waitForURL(/metric=pageviews/)
    await settled(page)
    assert.equal(await page.locator('.stat[aria-pressed="true"]').getAttribute('data-metric'), 'pageviews')
    assert.equal(await chartTotal(page), 8)
    await page.getByLabel('Period', { exact: true }).selectOption('12mo')
    await settled(page)
    assert.equal(await page.locator('.chart-data tbody tr').count(), 12, 'monthly buckets')
    await page.getByLabel('Period', { exact: true }).selectOption('custom')
    await page.waitForURL(/period=custom&from=\d{4}-\d{2}-\d{2}&to=\d{4}-\d{2}-\d{2}/)
    await settled(page)
    assert.equal(await page.getByLabel('From', { exact: true }).isVisible(), true)
    // A custom range starts as the range that was on screen (the last 12 months), by day.
    const u = new URL(page.url()).searchParams
    assert.equal(u.get('from').slice(8), '01')
    const days = (Date.parse(u.get('to')) - Date.parse(u.get('from'))) / 864e5 + 1
    assert.equal(await page.locator('.chart-data tbody tr').count(), days, 'a custom range starts as the range on screen, by day')
    assert.equal(await chartTotal(page), 8)

    // Tabs follow the ARIA pattern: arrow keys move the selection.
    await panel(page, 'sources').getByRole('tab', { name: 'Channels' }).focus()
    await page.keyboard.press('ArrowRight')
    await settled(page)
    assert.equal(await panel(page, 'sources').getByRole('tab', { selected: true }).textContent(), 'Sources')
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Sources')
    assert.equal(await panel(page, 'sources').locator('thead th').first().textContent(), 'Source')

    // Phones get one column; desktops a grid.
    const columns = () => page.locator('.panels').evaluate((el) => getComputedStyle(el).gridTemplateColumns.split(' ').length)
    assert.equal(await columns(), 2)
    await page.setViewportSize({ width: 375, height: 800 })
    assert.equal(await columns(), 1)
    assert.deepEqual(problems(), [])
    await context.close()
  })
})

// Ties in a breakdown have no defined order: compare rows sorted by count, then name.
function byCountThenName(a, b) {
  return Number(b[1]) - Number(a[1]) || a[0].localeCompare(b[0])
}
