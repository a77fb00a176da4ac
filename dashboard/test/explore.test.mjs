// The dashboard tried as a user would (issue #18, the client side), in real Chromium against
// the real collector, on a Berlin site: a chart that stops at now, with a dashed unfinished
// bucket, ticks that match its buckets and a tooltip; Plausible's periods and keyboard
// shortcuts; every row of a panel in its details; properties and custom events; the filter
// builder; imported data; organisations without networks; comparisons with an empty previous
// period; phone layout and an automated accessibility check. One collector and one data set
// for the whole file.

import assert from 'node:assert/strict'
import { mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { launch, record, startCollector, until } from '../../snippet/test/harness.mjs'

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts')
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
const SITE = 'berlin.test'
const EMPTY = 'empty.test'
const TZ = 'Europe/Berlin'
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const PAGES = 60
const DESKTOP = { width: 1280, height: 900 }
const PHONE = { width: 390, height: 844 }

const pad = (n) => String(n).padStart(2, '0')
const todayIn = (tz) => new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date())
const hourIn = (tz) => Number(new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', hourCycle: 'h23' }).format(new Date()))

describe('explore', () => {
  let collector, browser, newContext, token

  const call = async (method, path, body, t = collector.token) => {
    const res = await fetch(collector.base + path, {
      method,
      headers: { Authorization: `Bearer ${t}`, 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return text ? JSON.parse(text) : null
  }
  const beacon = async (i, body) => {
    const res = await fetch(`${collector.base}/api/event`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': `198.51.100.${i}`, 'User-Agent': UA, Origin: `https://${SITE}` },
      body: JSON.stringify({ site: SITE, ...body }),
    })
    assert.equal(res.status, 202, `${JSON.stringify(body)}: ${res.status} ${res.headers.get('x-candor-drop') || ''}`)
  }

  before(async () => {
    collector = await startCollector({ sites: EMPTY, env: { CANDOR_TRUSTED_PROXIES: '127.0.0.1/32' } })
    await call('POST', '/api/v1/sites', { domain: SITE, timezone: TZ })
    token = (await call('POST', '/api/v1/tokens', { name: 'explore', scopes: ['stats:read'] })).token
    await call('POST', `/api/v1/sites/${SITE}/goals`, { event_name: 'Signup' })
    // 60 visitors, each on a page of its own (/p/01 … /p/60); three sign up (plan pro, pro,
    // free), one downloads (an event no goal counts).
    for (let i = 1; i <= PAGES; i++) {
      await beacon(i, { name: 'pageview', url: `https://${SITE}/p/${pad(i)}`, referrer: i % 3 ? 'https://www.google.com/' : null })
    }
    for (const [i, plan] of [[1, 'pro'], [2, 'pro'], [3, 'free']]) await beacon(i, { name: 'Signup', url: `https://${SITE}/p/${pad(i)}`, props: { plan } })
    await beacon(4, { name: 'Download', url: `https://${SITE}/p/04`, props: { file: 'price-list.pdf' } })
    const totals = () => call('POST', '/api/v2/query', { site_id: SITE, metrics: ['visitors', 'events'], date_range: 'all' }, token)
      .then((r) => String(r.results[0]?.metrics))
    assert.equal(await until(async () => (await totals()) === `${PAGES},${PAGES + 4}` && 'yes', { timeout: 20000 }), 'yes', `seeded: ${await totals()}`)
    ;({ browser, newContext } = await launch({ chromium }))
    mkdirSync(ARTIFACTS, { recursive: true })
  })

  after(async () => {
    await browser?.close()
    await collector?.stop()
  })

  // A signed-in page (one context per test: its own localStorage), every query body kept.
  const open = async (path, { viewport = DESKTOP, locale = 'en-GB', context: reuse, touch = false, clock = false } = {}) => {
    const context = reuse || await newContext({ viewport, locale, ...(touch ? { hasTouch: true, isMobile: true } : {}) })
    if (clock) await context.clock.install() // time runs as usual until a test moves it on
    const rec = record(context)
    const page = await context.newPage()
    const queries = []
    page.on('request', (r) => queries.push(...reportQueries(r)))
    await page.goto(collector.base + '/dashboard/' + path)
    if (!reuse) {
      await page.getByLabel('API token', { exact: true }).fill(token)
      await page.locator('#token-form').getByRole('button', { name: 'Sign in' }).click()
    }
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    await settled(page)
    const problems = () =>
      [...rec.errors.map((e) => `pageerror: ${e}`),
        ...rec.consoleMessages
          .filter((m) => m.type === 'error' || m.type === 'warning')
          .filter((m) => !(/status of 401/.test(m.text) && /\/api\/dashboard\/session$/.test(m.location?.url || '')))
          .map((m) => `console.${m.type}: ${m.text}`)]
    return { context, page, problems, queries }
  }
  // The report queries a request carries: one for /api/v2/query, each of a batch's.
  const reportQueries = (r) => {
    const path = new URL(r.url()).pathname
    if (path.endsWith('/api/v2/query')) return [JSON.parse(r.postData())]
    if (path.endsWith('/api/v2/query/batch')) return JSON.parse(r.postData()).queries
    return []
  }
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
  const stat = (page, metric) => page.locator(`.stat[data-metric="${metric}"]`)
  const panel = (page, id) => page.locator(`section[data-panel="${id}"]`)
  const rows = (scope) => scope.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('th, td')].map((c) => c.textContent.trim())))
  const chartRows = (page) => page.locator('.chart-data tbody tr th').allTextContents()
  const ticks = (page) => page.locator('.plot').getAttribute('data-ticks').then((t) => JSON.parse(t || '[]'))
  const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true })

  // axe-core in the page (through the DevTools protocol, so the dashboard's CSP stays on);
  // serious and critical violations fail the test.
  const axe = async (page, where) => {
    await page.evaluate(AXE)
    const found = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] })
      return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`)
    })
    assert.deepEqual(found, [], `accessibility violations on ${where}`)
  }

  it('chart_stops_at_now_marks_the_unfinished_bucket_ticks_its_buckets_and_shows_a_tooltip', async () => {
    const { context, page, problems, queries } = await open(`?site=${SITE}&period=month`, { locale: 'de-DE' })
    const today = todayIn(TZ)
    // Month to date in Berlin: the 1st up to today, nothing after it; today still filling.
    const days = await chartRows(page)
    assert.equal(days.length, Number(today.slice(8)), days.join(' | '))
    assert.match(days.at(-1), /\(so far\)$/)
    assert.ok(queries.some((q) => q.dimensions?.[0] === 'time:day' && String(q.date_range) === `${today.slice(0, 8)}01,${today}`))
    // German dates on the axis and in the tooltip ("6. Dez."), one tick per day or week.
    const marks = await ticks(page)
    assert.ok(marks.length >= 1 && marks.every((t) => /^\d{1,2}\. \S+$/.test(t)), marks.join(' | '))
    assert.match(await page.locator('.chart-legend').textContent(), /so far/)

    // Today, hourly: up to the current Berlin hour.
    await page.keyboard.press('d')
    await page.waitForURL(/period=day/)
    await settled(page)
    assert.equal((await chartRows(page)).length, hourIn(TZ) + 1)
    assert.ok((await ticks(page)).every((t) => /^\d{1,2}:\d{2}$/.test(t)), (await ticks(page)).join(' | '))

    // The tooltip: hover the last point, read date, value and the previous period's value.
    const box = await page.locator('.plot .u-over').boundingBox()
    await page.mouse.move(box.x + box.width - 1, box.y + box.height / 2)
    const tip = page.locator('.chart-tip')
    await tip.waitFor()
    const text = await tip.textContent()
    assert.match(text, new RegExp(`Unique visitors: ${PAGES} \\(so far\\)`))
    assert.match(text, /\d{1,2}:00/)
    assert.equal(await tip.locator('.tip-prev').count(), 1, 'the previous period in the tooltip')

    // 7 days: daily ticks, never "12am 8am 4pm"; the interval switch offers hours.
    await page.keyboard.press('w')
    await page.waitForURL(/period=7d/)
    await settled(page)
    assert.equal((await chartRows(page)).length, 7)
    assert.ok((await ticks(page)).every((t) => /^\d{1,2}\. \S+$/.test(t)), (await ticks(page)).join(' | '))
    await page.getByLabel('Interval').selectOption('time:hour')
    await page.waitForURL(/interval=time:hour/)
    await settled(page)
    assert.equal((await chartRows(page)).length, 6 * 24 + hourIn(TZ) + 1)
    // Hours over a week: the midnight ticks name their day.
    assert.ok((await ticks(page)).every((t) => /^\d{1,2}\. \S+$/.test(t)), (await ticks(page)).join(' | '))
    // 12 months: monthly ticks; weeks on offer.
    await page.keyboard.press('l')
    await page.waitForURL((u) => u.searchParams.get('period') === '12mo' && !u.searchParams.has('interval'))
    await settled(page)
    assert.equal((await chartRows(page)).length, 12)
    assert.ok((await ticks(page)).every((t) => /^\S+ \d{2}$/.test(t)), (await ticks(page)).join(' | '))
    assert.deepEqual(await page.getByLabel('Interval').locator('option').allTextContents(), ['Days', 'Weeks', 'Months'])
    await shot(page, 'chart-12mo-de.png')
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('periods_shortcuts_arrows_and_the_last_site_are_plausible_like', async () => {
    const { context, page, problems } = await open(`?site=${EMPTY}`)
    const period = () => page.getByLabel('Period', { exact: true }).inputValue()
    const url = () => new URL(page.url()).searchParams
    // A site that never had a visitor shows its script tag.
    await soon(async () => assert.match(await page.locator('.first-run').textContent(),
      new RegExp(`Waiting for the first page view on ${EMPTY}.*<script defer src="${collector.base}/js/candor.js" data-site="${EMPTY}"></script>`)))
    for (const [key, id] of [['e', 'yesterday'], ['f', '28d'], ['n', '91d'], ['m', 'month'], ['p', 'last_month'], ['y', 'year'], ['a', 'all'], ['t', '30d']]) {
      await page.keyboard.press(key)
      await soon(async () => assert.equal(await period(), id, `key ${key}`))
    }
    // ← moves back a period (the dates show), → forward again; nothing after today.
    await page.keyboard.press('d')
    await soon(async () => assert.equal(url().get('period'), 'day'))
    assert.equal(await page.getByRole('button', { name: 'Next period (→)' }).isDisabled(), true)
    await page.keyboard.press('ArrowLeft')
    await soon(async () => assert.equal(await period(), 'yesterday'))
    await page.keyboard.press('ArrowLeft')
    await soon(async () => assert.ok(url().get('date') < todayIn(TZ) && (await period()) === 'day'))
    await page.getByRole('button', { name: 'Next period (→)' }).click()
    await page.keyboard.press('ArrowRight')
    await soon(async () => assert.equal(url().has('date'), false))
    // Custom: editing one end keeps the other.
    await page.keyboard.press('c')
    await soon(async () => assert.equal(url().get('period'), 'custom'))
    await page.getByLabel('From', { exact: true }).fill('2026-01-05')
    await soon(async () => assert.equal(url().get('from'), '2026-01-05'))
    // The empty site came from CANDOR_SITES, so its day is UTC's (an hour behind Berlin's from 23:00 UTC).
    assert.equal(url().get('to'), todayIn('UTC'))
    await settled(page)
    await shot(page, 'empty-site.png')
    await page.close()

    // The last site opened comes back on the next visit without a site in the URL.
    const again = await open('', { context })
    await soon(async () => assert.equal(await again.page.getByLabel('Site', { exact: true }).inputValue(), EMPTY))
    assert.deepEqual([...problems(), ...again.problems()], [])
    await context.close()
  })

  it('comparisons_against_an_empty_previous_period_show_a_dash_and_the_previous_line', async () => {
    const { context, page, problems, queries } = await open(`?site=${SITE}&period=7d`)
    for (const m of ['visitors', 'visits', 'pageviews', 'bounce_rate']) {
      assert.equal(await stat(page, m).locator('.change [aria-hidden]').textContent(), '—', m)
    }
    assert.doesNotMatch(String(await page.locator('.stats .change').allTextContents()), /100/)
    // The previous 7 days asked for with their own dates, for the tiles and the chart.
    const prev = queries.filter((q) => Array.isArray(q.date_range) && q.date_range[1] < todayIn(TZ) && !q.dimensions?.length)
    assert.ok(prev.length >= 1)
    assert.equal(await page.locator('.chart-data td.prev').count(), 7)
    assert.match(await page.locator('.chart-legend').textContent(), /Previous:/)
    // X turns the comparison off and on (Plausible's key), remembered in the URL.
    await page.keyboard.press('x')
    await page.waitForURL(/compare=0/)
    await soon(async () => {
      assert.equal(await page.locator('.stats .change').count(), 0)
      assert.equal(await page.locator('.chart-data td.prev').count(), 0)
    })
    assert.equal(await page.getByLabel('Compare (X)').inputValue(), 'off')
    assert.equal(await page.getByLabel('Match day of week').isVisible(), false)
    await page.keyboard.press('x')
    await page.waitForURL((u) => !u.searchParams.has('compare'))
    await soon(async () => assert.equal(await page.locator('.chart-data td.prev').count(), 7))

    // Year over year: the same seven days a year before, for the tiles and the chart.
    const yearBack = (iso) => `${Number(iso.slice(0, 4)) - 1}${iso.slice(4)}`
    const week = [new Date(Date.parse(todayIn(TZ)) - 6 * 864e5).toISOString().slice(0, 10), todayIn(TZ)]
    queries.length = 0
    await page.getByLabel('Compare (X)').selectOption('yoy')
    await page.waitForURL(/compare=yoy/)
    await settled(page)
    await soon(() => assert.ok(queries.some((q) => String(q.date_range) === String(week.map(yearBack)) && q.dimensions?.[0] === 'time:day'), JSON.stringify(queries.map((q) => q.date_range))))
    assert.equal(await stat(page, 'visitors').locator('.change [aria-hidden]').textContent(), '—')
    assert.match(await stat(page, 'visitors').locator('.change').getAttribute('title'), new RegExp(String(Number(week[0].slice(0, 4)) - 1)))
    // Match day of week: a start on the same weekday, remembered in the URL.
    queries.length = 0
    await page.getByLabel('Match day of week').check()
    await page.waitForURL(/compare=yoy&match=1/)
    const weekday = (iso) => new Date(iso + 'T00:00:00Z').getUTCDay()
    await soon(() => assert.ok(queries.some((q) => Array.isArray(q.date_range) && q.date_range[0] < week[0].slice(0, 4) && weekday(q.date_range[0]) === weekday(week[0]))))
    // A custom range: its own dates.
    queries.length = 0
    await page.getByLabel('Compare (X)').selectOption('custom')
    await page.getByLabel('Compare from').fill('2026-01-01')
    await page.getByLabel('to', { exact: true }).fill('2026-01-07')
    await page.waitForURL(/compare=custom&compare_from=2026-01-01&compare_to=2026-01-07/)
    await page.getByLabel('Match day of week').uncheck()
    await page.waitForURL((u) => !u.searchParams.has('match'))
    await soon(() => assert.ok(queries.some((q) => String(q.date_range) === '2026-01-01,2026-01-07')))
    // The mode survives a reload, and X turns it off and back on.
    await page.reload()
    await settled(page)
    assert.equal(await page.getByLabel('Compare (X)').inputValue(), 'custom')
    await page.keyboard.press('x')
    await page.waitForURL(/compare=0/)
    await page.keyboard.press('x')
    await page.waitForURL(/compare=custom/)
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('details_reach_every_row_with_search_sort_and_extra_metrics', async () => {
    const { context, page, problems } = await open(`?site=${SITE}&period=day`)
    await panel(page, 'pages').getByRole('tab', { name: 'Top pages' }).click()
    await settled(page)
    await panel(page, 'pages').getByRole('button', { name: /details, every row/ }).click()
    const dialog = page.getByRole('dialog', { name: 'Pages: Top pages' })
    await dialog.waitFor()
    await soon(async () => assert.equal(await dialog.locator('tbody tr').count(), 50))
    assert.deepEqual((await dialog.locator('thead th').allTextContents()).map((t) => t.replace(/ [▲▼]$/, '')), ['Page', 'Visitors', 'Pageviews', 'Bounce rate', 'Share'])
    await dialog.getByRole('button', { name: 'Load 50 more' }).click()
    await soon(async () => assert.equal(await dialog.locator('tbody tr').count(), PAGES))
    assert.equal(await dialog.getByRole('button', { name: 'Load 50 more' }).isVisible(), false)
    assert.match(await dialog.locator('[role="status"]').textContent(), /Showing 60 of 60 rows/)
    // Sort by page, ascending: row 50 is /p/50.
    await dialog.getByRole('button', { name: 'Page', exact: true }).click()
    await soon(async () => assert.equal(await dialog.locator('thead th').first().getAttribute('aria-sort'), 'ascending'))
    await dialog.getByRole('button', { name: 'Load 50 more' }).click()
    await soon(async () => assert.deepEqual((await rows(dialog))[49].slice(0, 4), ['/p/50', '1', '1', '100%']))
    await shot(page, 'details-desktop.png')
    // Search: a contains filter on the page.
    await dialog.getByLabel('Search').fill('p/5')
    await soon(async () => assert.deepEqual((await rows(dialog)).map((r) => r[0]), Array.from({ length: 10 }, (_, i) => `/p/5${i}`)))
    await axe(page, 'the details view')
    // A row filters the dashboard.
    await dialog.getByRole('button', { name: '/p/57' }).click()
    await page.waitForURL(/f=event:page==\/p\/57/)
    await soon(async () => assert.equal(await stat(page, 'visitors').locator('.stat-value').textContent(), '1'))
    assert.equal(await dialog.isVisible(), false)
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('properties_and_custom_events_have_panels_that_filter', async () => {
    const { context, page, problems } = await open(`?site=${SITE}&period=day`)
    assert.deepEqual(await rows(panel(page, 'events')), [['Signup', '3', '3'], ['Download', '1', '1']])
    // The period's keys from the server, most visitors first; the first is shown at once.
    const keys = panel(page, 'props').getByRole('list', { name: 'Keys sent in this period' })
    await soon(async () => assert.deepEqual(await keys.getByRole('button').allTextContents(), ['plan 3', 'file 1']))
    await soon(async () => assert.deepEqual(await rows(panel(page, 'props')), [['pro', '2', '2'], ['free', '1', '1']]))
    await keys.getByRole('button', { name: 'file 1' }).click()
    await soon(async () => assert.deepEqual(await rows(panel(page, 'props')), [['price-list.pdf', '1', '1']]))
    assert.equal(await keys.getByRole('button', { name: 'file 1' }).getAttribute('aria-pressed'), 'true')
    // A key can still be typed.
    await panel(page, 'props').getByLabel('Property key').fill('plan')
    await panel(page, 'props').getByRole('button', { name: 'Show' }).click()
    await soon(async () => assert.deepEqual(await rows(panel(page, 'props')), [['pro', '2', '2'], ['free', '1', '1']]))
    await panel(page, 'props').scrollIntoViewIfNeeded()
    await shot(page, 'properties.png')
    await panel(page, 'props').getByRole('button', { name: 'pro', exact: true }).click()
    await page.waitForURL(/f=event:props:plan==pro/)
    await soon(async () => assert.equal(await stat(page, 'visitors').locator('.stat-value').textContent(), '2'))
    // The key is remembered for this site.
    await page.reload()
    await settled(page)
    await soon(async () => assert.equal(await panel(page, 'props').getByLabel('Property key').inputValue(), 'plan'))
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('the_filter_builder_takes_operators_several_values_suggestions_and_edits', async () => {
    const { context, page, problems } = await open(`?site=${SITE}&period=day`)
    await page.getByRole('button', { name: '+ Add filter' }).click()
    const dialog = page.getByRole('dialog', { name: 'Add a filter' })
    await dialog.getByLabel('Filter by').selectOption('event:page')
    await dialog.getByLabel('Value', { exact: true }).fill('/p/0')
    // Suggestions from the data: the pages containing "/p/0".
    await soon(async () => assert.equal(await dialog.locator('#filter-suggestions button').count(), 9))
    // A suggestion is a button; a typed value is added too.
    await dialog.locator('#filter-suggestions').getByRole('button', { name: '/p/01 1' }).click()
    // The text is cleared: the top 20 pages again, but the one chosen.
    await soon(async () => assert.equal(await dialog.locator('#filter-suggestions button').count(), 19))
    assert.equal(await dialog.locator('#filter-suggestions').getByRole('button', { name: '/p/01 1' }).count(), 0)
    await dialog.getByLabel('Value', { exact: true }).fill('/p/02')
    await dialog.getByRole('button', { name: 'Apply filter' }).click()
    await page.waitForURL(/f=event:page==\/p\/01&or=\/p\/02/)
    await soon(async () => assert.equal(await stat(page, 'visitors').locator('.stat-value').textContent(), '2'))
    // Edit the chip: "is not" the same two pages.
    await page.getByRole('button', { name: 'Edit filter: Page is /p/01 or /p/02' }).click()
    await page.getByRole('dialog', { name: 'Edit filter' }).getByLabel('Operator').selectOption('!=')
    await page.getByRole('dialog', { name: 'Edit filter' }).getByRole('button', { name: 'Apply filter' }).click()
    await page.waitForURL(/f=event:page!=\/p\/01&or=\/p\/02/)
    await soon(async () => assert.equal(await stat(page, 'visitors').locator('.stat-value').textContent(), String(PAGES - 2)))
    // Does not contain.
    await page.getByRole('button', { name: '+ Add filter' }).click()
    await page.getByRole('dialog', { name: 'Add a filter' }).getByLabel('Filter by').selectOption('event:page')
    await page.getByRole('dialog', { name: 'Add a filter' }).getByLabel('Operator').selectOption('!~')
    await page.getByRole('dialog', { name: 'Add a filter' }).getByLabel('Value', { exact: true }).fill('/p/1')
    await page.getByRole('dialog', { name: 'Add a filter' }).getByRole('button', { name: 'Apply filter' }).click()
    await page.waitForURL(/f=event:page!~\/p\/1/)
    await soon(async () => assert.equal(await stat(page, 'visitors').locator('.stat-value').textContent(), String(PAGES - 2 - 10)))
    await page.getByRole('button', { name: '+ Add filter' }).click()
    await page.getByRole('dialog', { name: 'Add a filter' }).getByLabel('Filter by').selectOption('visit:source')
    await page.getByRole('dialog', { name: 'Add a filter' }).getByLabel('Value', { exact: true }).fill('Goo')
    await page.getByRole('dialog', { name: 'Add a filter' }).getByRole('button', { name: 'Add value' }).click()
    await page.locator('#filter-suggestions button').first().waitFor()
    await shot(page, 'filter-builder.png')
    await axe(page, 'the filter builder')
    await page.keyboard.press('Escape')
    await page.getByRole('button', { name: 'Remove filter: Page does not contain /p/1' }).click()
    await soon(async () => assert.equal(await page.locator('.chips li.chip').count(), 1))
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('a_goal_filter_turns_the_tiles_into_conversions_with_exact_numbers', async () => {
    const { context, page, problems, queries } = await open(`?site=${SITE}&period=day&f=event:goal==Signup`)
    const tiles = () => page.locator('.stat').evaluateAll((els) => els.map((b) => [b.querySelector('.stat-label').textContent, b.querySelector('.stat-value').textContent]))
    // 3 of the 60 visitors signed up, once each: 5%.
    await soon(async () => assert.deepEqual(await tiles(), [['Unique conversions', '3'], ['Total conversions', '3'], ['Conversion rate', '5%']]))
    assert.ok(queries.some((q) => String(q.metrics) === 'visitors,events,conversion_rate' && !q.dimensions?.length))
    // The traffic panels count conversions too: the converting visitors and the rate per row.
    const pages = panel(page, 'pages')
    await pages.getByRole('tab', { name: 'Top pages' }).click()
    await soon(async () => assert.deepEqual(await rows(pages), [['/p/01', '1', '100%'], ['/p/02', '1', '100%'], ['/p/03', '1', '100%']]))
    assert.deepEqual(await pages.locator('thead th').allTextContents(), ['Page', 'Conversions', 'Conversion rate'])
    assert.deepEqual(await rows(panel(page, 'sources').locator('table')), [['Organic Search', '2', '5%'], ['Direct', '1', '5%']])
    await shot(page, 'goal-tiles-desktop.png')
    // The conversion rate charts.
    await stat(page, 'conversion_rate').click()
    await page.waitForURL(/metric=conversion_rate/)
    await soon(async () => assert.match(await page.locator('#chart-title').textContent(), /^Conversion rate, today/))
    await settled(page)
    await axe(page, 'goal tiles')
    // Another goal filter keeps the conversion tiles and the charted metric; a property filter
    // on top of it still counts the goal's conversions.
    await page.goto(`${collector.base}/dashboard/?site=${SITE}&period=day&metric=conversion_rate&f=event:goal==Signup&f=event:props:plan==pro`)
    await soon(async () => assert.deepEqual(await tiles(), [['Unique conversions', '2'], ['Total conversions', '2'], ['Conversion rate', '3.3%']]))
    // An event name without a goal: its visitors and events, no page views.
    await page.goto(`${collector.base}/dashboard/?site=${SITE}&period=day&f=event:name==Download`)
    await soon(async () => assert.deepEqual(await tiles(), [['Unique visitors', '1'], ['Total events', '1']]))
    // No filter: the traffic tiles again.
    await page.goto(`${collector.base}/dashboard/?site=${SITE}&period=day&metric=conversion_rate`)
    await soon(async () => assert.deepEqual((await tiles()).map(([l]) => l), ['Unique visitors', 'Total visits', 'Pageviews', 'Views per visit', 'Bounce rate', 'Visit duration']))
    assert.equal(new URL(page.url()).searchParams.has('metric'), false)
    await context.close()

    const phone = await open(`?site=${SITE}&period=day&f=event:goal==Signup`, { viewport: PHONE, touch: true })
    await soon(async () => assert.equal(await stat(phone.page, 'conversion_rate').locator('.stat-value').textContent(), '5%'))
    await shot(phone.page, 'goal-tiles-phone.png')
    assert.deepEqual([...problems(), ...phone.problems()], [])
    await phone.context.close()
  })

  it('realtime_shows_the_last_30_minutes_behind_the_current_visitors_count', async () => {
    const { context, page, problems, queries } = await open(`?site=${SITE}&period=day`, { clock: true })
    await page.locator('a.realtime').click()
    await page.waitForURL(/view=realtime/)
    const realtime = page.getByRole('region', { name: 'Realtime: the last 30 minutes' })
    await soon(async () => assert.equal(await realtime.locator('.stat[data-metric="visitors"] .stat-value').textContent(), String(PAGES)))
    assert.equal(await realtime.locator('.stat[data-metric="pageviews"] .stat-value').textContent(), String(PAGES))
    assert.equal(await realtime.locator('.stat[data-metric="current"]').count(), 1)
    assert.deepEqual(await rows(realtime.locator('[data-panel="realtime-sources"]')), [['Google', '40'], ['Direct / None', '20']])
    assert.equal(await realtime.locator('[data-panel="realtime-pages"] tbody tr').count(), 10)
    // Two ISO date-times 30 minutes apart.
    const q = queries.find((x) => x.dimensions?.[0] === 'visit:source' && Array.isArray(x.date_range) && x.date_range[0].includes('T'))
    assert.ok(q, 'a query over date-times')
    assert.equal(Date.parse(q.date_range[1]) - Date.parse(q.date_range[0]), 30 * 60000)
    assert.equal(await page.getByLabel('Period', { exact: true }).isVisible(), false)
    // A row filters the realtime view.
    await realtime.getByRole('button', { name: 'Google' }).click()
    await page.waitForURL(/view=realtime.*f=visit:source==Google/)
    await soon(async () => assert.equal(await realtime.locator('.stat[data-metric="visitors"] .stat-value').textContent(), '40'))
    await axe(page, 'the realtime view')
    // Every 30 seconds the last 30 minutes are asked for again, ending at the new now.
    const asked = () => queries.filter((x) => x.dimensions?.[0] === 'visit:source' && Array.isArray(x.date_range) && x.date_range[0].includes('T'))
    const before = asked().length
    await page.clock.fastForward(30000)
    await soon(() => assert.ok(asked().length > before, `${asked().length} after ${before}`))
    assert.ok(Date.parse(asked().at(-1).date_range[1]) - Date.parse(q.date_range[1]) >= 30000)
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('imports_toggle_and_organisations_without_networks', async () => {
    const { context, page, problems, queries } = await open(`?site=${SITE}&period=day`)
    const org = queries.find((q) => q.dimensions?.[0] === 'visit:org')
    assert.deepEqual(org.filters, [['is_not', 'visit:org_type', ['isp', 'mobile', 'hosting']]])
    queries.length = 0
    await panel(page, 'orgs').getByLabel(/Show all networks/).check()
    await soon(() => assert.deepEqual(queries.find((q) => q.dimensions?.[0] === 'visit:org')?.filters, []))

    await page.getByLabel('Imported data').check()
    await page.waitForURL(/imports=1/)
    await settled(page)
    await soon(async () => assert.match(await page.locator('.imports-notice').textContent(), /Imported data is not included: no imported data/))
    assert.ok(queries.filter((q) => q.include?.imports === true).length >= 3)
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('phone_and_desktop_pass_the_accessibility_check_and_every_panel_fits_at_390px', async () => {
    const desk = await open(`?site=${SITE}&period=day`)
    await axe(desk.page, 'the overview (desktop)')
    await shot(desk.page, 'overview-desktop.png')
    await desk.context.close()

    const { context, page, problems } = await open(`?site=${SITE}&period=day`, { viewport: PHONE, touch: true })
    await shot(page, 'overview-phone.png')
    // A tap on the chart shows the tooltip.
    await page.locator('.plot').scrollIntoViewIfNeeded()
    const plot = await page.locator('.plot .u-over').boundingBox()
    await page.touchscreen.tap(plot.x + plot.width - 2, plot.y + plot.height / 2)
    await soon(async () => assert.match(await page.locator('.chart-tip').textContent(), new RegExp(`Unique visitors: ${PAGES} \\(so far\\)`)))
    await axe(page, 'the overview (phone)')
    // No panel wider than the screen; every name column has room to read.
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), PHONE.width)
    for (const id of ['sources', 'pages', 'goals', 'events']) {
      const w = await panel(page, id).locator('tbody th.name').first().evaluate((el) => el.getBoundingClientRect().width)
      assert.ok(w >= 120, `${id} name column is ${w}px wide`)
    }
    await panel(page, 'pages').getByRole('button', { name: /details, every row/ }).click()
    await page.getByRole('dialog').locator('tbody tr').first().waitFor()
    await axe(page, 'the details view (phone)')
    await shot(page, 'details-phone.png')
    assert.deepEqual(problems(), [])
    await context.close()
  })
})
