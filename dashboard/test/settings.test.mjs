// Settings and saved segments (issue #18, items 6 and 8), in real Chromium against the real
// collector: an admin session manages goals, the dashboard password, tokens and the time zone
// from the dashboard, and a goal created there counts a conversion; a stats reader sees none of
// these controls and never calls their endpoints; any reader saves a segment, and a link with
// `segment=<id>` opens it in a new page. One collector for the whole file.

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
const SITE = 'admin.test'
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const DESKTOP = { width: 1280, height: 900 }
const PHONE = { width: 390, height: 844 }
const ADMIN_PATHS = /\/api\/v1\/(tokens|sites)(\/|$|\?)|\/goals|\/dashboard-password/

describe('settings and segments', () => {
  let collector, browser, newContext, reader

  const call = async (method, path, body, t = collector.token) => {
    const res = await fetch(collector.base + path, {
      method,
      headers: { Authorization: `Bearer ${t}`, 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body),
    })
    const text = await res.text()
    if (!res.ok) throw Object.assign(new Error(`${method} ${path}: ${res.status} ${text}`), { status: res.status })
    return text ? JSON.parse(text) : null
  }
  const beacon = async (i, body) => {
    const res = await fetch(`${collector.base}/api/event`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': `198.51.100.${i}`, 'User-Agent': UA, Origin: `https://${SITE}` },
      body: JSON.stringify({ site: SITE, ...body }),
    })
    assert.equal(res.status, 202)
  }
  const count = (filters) => call('POST', '/api/v2/query', { site_id: SITE, metrics: ['visitors', 'events'], date_range: 'all', filters }, reader)
    .then((r) => String(r.results[0]?.metrics))

  before(async () => {
    collector = await startCollector({ sites: SITE, env: { CANDOR_TRUSTED_PROXIES: '127.0.0.1/32' } })
    reader = (await call('POST', '/api/v1/tokens', { name: 'reader', scopes: ['stats:read'], sites: [SITE] })).token
    // Four visitors: three from Google, one direct.
    for (let i = 1; i <= 4; i++) await beacon(i, { url: `https://${SITE}/`, referrer: i < 4 ? 'https://www.google.com/' : null })
    assert.equal(await until(async () => (await count([])) === '4,4' && 'yes', { timeout: 20000 }), 'yes')
    ;({ browser, newContext } = await launch({ chromium }))
    mkdirSync(ARTIFACTS, { recursive: true })
  })

  after(async () => {
    await browser?.close()
    await collector?.stop()
  })

  const open = async (path, { token, viewport = DESKTOP, touch = false } = {}) => {
    const context = await newContext({ viewport, ...(touch ? { hasTouch: true, isMobile: true } : {}) })
    const rec = record(context)
    const page = await context.newPage()
    page.on('dialog', (d) => d.accept()) // "Delete the goal …?"
    const requests = []
    page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`))
    await page.goto(collector.base + '/dashboard/' + path)
    await page.getByLabel('API token', { exact: true }).fill(token)
    await page.locator('#token-form').getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'Sign out' }).waitFor()
    await settled(page)
    const problems = () =>
      [...rec.errors.map((e) => `pageerror: ${e}`),
        ...rec.consoleMessages
          .filter((m) => m.type === 'error' || m.type === 'warning')
          .filter((m) => !(/status of 401/.test(m.text) && /\/api\/dashboard\/session$/.test(m.location?.url || '')))
          .map((m) => `console.${m.type}: ${m.text}`)]
    return { context, page, problems, requests }
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
  const shot = (page, name) => page.screenshot({ path: join(ARTIFACTS, name), fullPage: true })
  const tile = (page, metric) => page.locator(`.stat[data-metric="${metric}"] .stat-value`)
  const axe = async (page, where) => {
    await page.evaluate(AXE)
    const found = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] })
      return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
        .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`)
    })
    assert.deepEqual(found, [], `accessibility violations on ${where}`)
  }

  it('a_stats_reader_sees_no_settings_and_never_calls_their_endpoints', async () => {
    const { context, page, problems, requests } = await open(`?site=${SITE}&view=settings`, { token: reader })
    // A settings link falls back to the overview.
    await page.waitForURL((u) => !u.searchParams.has('view'))
    assert.equal(await page.getByRole('link', { name: 'Settings' }).count(), 0)
    assert.equal(await page.locator('.settings-grid, #goal-value, #token-name, #site-password').count(), 0)
    assert.deepEqual(requests.filter((r) => ADMIN_PATHS.test(r)), [])
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('an_admin_manages_goals_password_tokens_and_time_zone_and_a_new_goal_counts_a_conversion', async () => {
    const { context, page, problems } = await open(`?site=${SITE}&period=day`, { token: collector.token })
    await page.getByRole('link', { name: 'Settings' }).click()
    await page.waitForURL(/view=settings/)
    const settings = page.getByRole('region', { name: `Settings of ${SITE}` })
    const goals = settings.getByRole('region', { name: 'Goals' })
    await soon(async () => assert.match(await goals.textContent(), /No goals yet/))

    // Goals: an event goal and a page goal, then the page goal deleted.
    await goals.getByLabel('Event name or page path').fill('Purchase')
    await goals.getByRole('button', { name: 'Add goal' }).click()
    await soon(async () => assert.match(await goals.getByRole('status').textContent(), /Goal “Purchase” added/))
    await goals.getByLabel('Goal trigger').selectOption('page_path')
    await goals.getByLabel('Event name or page path').fill('/thanks/**')
    await goals.getByLabel('Display name (optional)').fill('Thank-you page')
    await goals.getByRole('button', { name: 'Add goal' }).click()
    await soon(async () => assert.deepEqual(await goals.locator('tbody th').allTextContents(), ['Purchase', 'Thank-you page']))
    assert.deepEqual((await call('GET', `/api/v1/sites/${SITE}/goals`)).goals.map((g) => g.page_path || g.event_name).sort(), ['/thanks/**', 'Purchase'])
    await goals.getByRole('button', { name: 'Delete goal Thank-you page' }).click()
    await soon(async () => assert.deepEqual(await goals.locator('tbody th').allTextContents(), ['Purchase']))

    // Tokens: created with scopes, shown once with a copy button, usable, then revoked.
    const tokens = settings.getByRole('region', { name: 'API tokens' })
    await tokens.getByLabel('Token name').fill('reporting')
    await tokens.getByLabel(/Run SQL/).check()
    await tokens.getByRole('button', { name: 'Create token' }).click()
    const secret = tokens.getByLabel(/Token “reporting”/)
    await secret.waitFor()
    const made = await secret.inputValue()
    assert.ok(made.length >= 20, made)
    assert.equal(await tokens.getByRole('button', { name: 'Copy' }).count(), 1)
    await soon(async () => assert.match(await tokens.locator('tbody').textContent(), /reporting.*stats:read, sql:read.*admin\.test/))
    assert.equal(typeof await call('GET', `/api/v1/stats/realtime/visitors?site_id=${SITE}`, null, made), 'number')
    await shot(page, 'settings-desktop.png')
    await axe(page, 'the settings view (desktop)')
    await tokens.getByRole('button', { name: 'Revoke token reporting' }).click()
    await soon(async () => assert.match(await tokens.getByRole('status').first().textContent(), /revoked/))
    await assert.rejects(call('GET', `/api/v1/stats/realtime/visitors?site_id=${SITE}`, null, made), (e) => e.status === 401)
    assert.equal(await secret.count(), 0, 'the secret is gone once revoked')

    // The dashboard password: set (too short first), a sign-in with it works, then removed.
    const password = settings.getByRole('region', { name: 'Dashboard password' })
    await password.getByLabel('New dashboard password').fill('short')
    await password.getByRole('button', { name: 'Set password' }).click()
    assert.equal(await password.getByLabel('New dashboard password').evaluate((el) => el.validity.tooShort), true)
    await password.getByLabel('New dashboard password').fill('correct horse battery')
    await password.getByRole('button', { name: 'Set password' }).click()
    await soon(async () => assert.match(await password.getByRole('status').textContent(), /Password set/))
    const login = (pw) => fetch(`${collector.base}/api/dashboard/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ site: SITE, password: pw }) }).then((r) => r.status)
    assert.equal(await login('correct horse battery'), 200)
    await password.getByRole('button', { name: 'Remove password' }).click()
    await soon(async () => assert.match(await password.getByRole('status').textContent(), /Password removed/))
    assert.equal(await login('correct horse battery'), 401)

    // The time zone.
    const site = settings.getByRole('region', { name: 'This site' })
    await site.getByLabel('Time zone').fill('Europe/Berlin')
    await site.getByRole('button', { name: 'Save time zone' }).click()
    await soon(async () => assert.match(await site.getByRole('status').textContent(), /Time zone saved: Europe\/Berlin/))
    assert.equal((await call('GET', '/api/v1/sites')).sites.find((s) => s.domain === SITE).timezone, 'Europe/Berlin')

    // The privacy center: what people are offered there, saved through the sites API.
    const center = settings.getByRole('region', { name: 'Privacy center' })
    assert.equal(await center.getByLabel('Contact frequencies offered').inputValue(), 'weekly\nmonthly\nonly essential\nnever')
    assert.match(await center.textContent(), /No mail sent yet/)
    await center.getByLabel('Sender name').fill('Admin Shop')
    await center.getByLabel('Topics offered').fill('Product news\n\nEvents ')
    await center.getByLabel(/once a year/).check()
    await center.getByRole('button', { name: 'Save privacy center' }).click()
    await soon(async () => assert.match(await center.getByRole('status').first().textContent(), /Privacy center saved/))
    const saved = (await call('GET', '/api/v1/sites')).sites.find((s) => s.domain === SITE).privacy_center
    assert.deepEqual([saved.sender_name, saved.topics, saved.yearly_notice], ['Admin Shop', ['Product news', 'Events'], true])
    // A topic listed twice is refused before anything is sent.
    await center.getByLabel('Topics offered').fill('News\nNews')
    await center.getByRole('button', { name: 'Save privacy center' }).click()
    await soon(async () => assert.match(await center.getByRole('status').first().textContent(), /listed twice/))
    assert.equal(await center.getByRole('link', { name: 'Open the privacy center' }).getAttribute('href'), `/privacy/center?site=${SITE}`)

    // A conversion for the goal just created, seen on the dashboard.
    await beacon(2, { name: 'Purchase', url: `https://${SITE}/checkout` })
    assert.equal(await until(async () => (await count([['is', 'event:goal', ['Purchase']]])) === '1,1' && 'yes', { timeout: 20000 }), 'yes')
    await page.getByRole('link', { name: 'Overview' }).click()
    await page.locator('section[data-panel="goals"]').getByRole('button', { name: 'Purchase' }).click()
    await page.waitForURL(/f=event:goal==Purchase/)
    await soon(async () => {
      assert.equal(await tile(page, 'visitors').textContent(), '1')
      assert.equal(await tile(page, 'conversion_rate').textContent(), '25%') // 1 of 4 visitors
    })
    assert.equal(await page.locator('.stat[data-metric="visitors"] .stat-label').textContent(), 'Unique conversions')

    // On a phone: the settings view fits and passes the check.
    const phone = await newContext({ viewport: PHONE, hasTouch: true, isMobile: true, storageState: await context.storageState() })
    const p2 = await phone.newPage()
    await p2.goto(`${collector.base}/dashboard/?site=${SITE}&view=settings`)
    await p2.getByRole('region', { name: 'Goals' }).locator('tbody th').first().waitFor()
    assert.equal(await p2.evaluate(() => document.documentElement.scrollWidth), PHONE.width)
    await shot(p2, 'settings-phone.png')
    await axe(p2, 'the settings view (phone)')
    await phone.close()
    assert.deepEqual(problems(), [])
    await context.close()
  })

  it('a_reader_saves_a_segment_and_a_link_reopens_it_in_a_new_page', async () => {
    const { context, page, problems } = await open(`?site=${SITE}&period=day&f=visit:source==Google`, { token: reader })
    await soon(async () => assert.equal(await tile(page, 'visitors').textContent(), '3'))
    await page.getByRole('button', { name: 'Segments' }).click()
    const menu = page.getByRole('dialog', { name: 'Segments' })
    await soon(async () => assert.match(await menu.textContent(), /No saved segments/))
    await menu.getByLabel('Segment name').fill('From Google')
    await menu.getByRole('button', { name: 'Save segment' }).click()
    await page.waitForURL(/segment=[0-9a-f]+/)
    const id = new URL(page.url()).searchParams.get('segment')
    await soon(async () => assert.deepEqual(await menu.locator('.segment-link').allTextContents(), ['From Google']))
    assert.match(await menu.locator('.segment-filters').textContent(), /Source is Google/)
    await shot(page, 'segments-desktop.png')
    await axe(page, 'the segments menu')
    await menu.getByRole('button', { name: 'Close' }).click()
    assert.equal(await page.locator('.segments-open').textContent(), 'Segment: From Google')
    // Changing the filters leaves the segment.
    await page.getByRole('button', { name: 'Remove filter: Source is Google' }).click()
    await page.waitForURL((u) => !u.searchParams.has('segment') && !u.searchParams.has('f'))
    assert.equal(await page.locator('.segments-open').textContent(), 'Segments')
    await soon(async () => assert.equal(await tile(page, 'visitors').textContent(), '4'))
    // Opening it from the menu sets its filters again.
    await page.getByRole('button', { name: 'Segments' }).click()
    await menu.getByRole('link', { name: 'From Google' }).click()
    await page.waitForURL((u) => u.searchParams.get('segment') === id && u.searchParams.get('f') === 'visit:source==Google')
    await soon(async () => assert.equal(await tile(page, 'visitors').textContent(), '3'))

    // A link with only the segment, in a new page on a phone: its filters come from the store.
    const other = await open(`?site=${SITE}&period=day&segment=${id}`, { token: reader, viewport: PHONE, touch: true })
    await other.page.waitForURL(/f=visit:source==Google/)
    await soon(async () => assert.equal(await tile(other.page, 'visitors').textContent(), '3'))
    assert.equal(await other.page.getByRole('button', { name: 'Edit filter: Source is Google' }).count(), 1)
    await other.page.getByRole('button', { name: 'Segment: From Google' }).click()
    const phoneMenu = other.page.getByRole('dialog', { name: 'Segments' })
    await phoneMenu.locator('.segment-link').first().waitFor()
    await shot(other.page, 'segments-phone.png')
    // Delete it.
    await phoneMenu.getByRole('button', { name: 'Delete segment From Google' }).click()
    await soon(async () => assert.match(await phoneMenu.textContent(), /No saved segments/))
    // The open segment is gone: the URL keeps its filters but no longer names it.
    await other.page.waitForURL((u) => !u.searchParams.has('segment') && u.searchParams.get('f') === 'visit:source==Google')
    assert.deepEqual((await call('GET', `/api/v1/sites/${SITE}/segments`, null, reader)).segments, [])
    assert.deepEqual([...problems(), ...other.problems()], [])
    await other.context.close()
    await context.close()
  })
})
