// The privacy center, as a visitor uses it in real Chromium: consent to marketing on a shop
// page, hand over an address in a form, open the center from the page, ask for a link, read
// the mail at a real SMTP server (aiosmtpd), open the link, choose preferences (the CRM's pull
// API sees them), download the data, erase — and change consent in the center, which the next
// beacon from that browser carries.

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import { after, before, describe, it } from 'node:test'
import { SITE, ensureBuilt, freePort, html, launch, startCollector, startRecorder, startSite, startSmtp, tag, until } from './harness.mjs'

// axe-core, evaluated in the page through the DevTools protocol (the center's CSP stays on):
// serious and critical violations fail the test.
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
const axe = async (page, where) => {
  await page.evaluate(AXE)
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] })
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`)
  })
  assert.deepEqual(found, [], `accessibility violations on ${where}`)
}

describe('privacy center', () => {
  let collector, rec, site, browser, newContext, smtp, hooks, hookServer

  before(async () => {
    ensureBuilt()
    smtp = await startSmtp()
    // A CRM's webhook receiver.
    hooks = []
    const hookPort = await freePort()
    hookServer = http.createServer((req, res) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        hooks.push(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        res.writeHead(200).end()
      })
    })
    await new Promise((r) => hookServer.listen(hookPort, '127.0.0.1', r))
    const port = await freePort()
    collector = await startCollector({
      port,
      env: {
        CANDOR_SMTP_URL: `smtp://127.0.0.1:${smtp.port}`,
        CANDOR_SMTP_FROM: 'privacy@shop.test',
        CANDOR_PUBLIC_URL: `http://collector.test:${port}`,
      },
    })
    const admin = (path, body) =>
      fetch(collector.base + path, {
        method: 'POST',
        headers: { Authorization: `Bearer ${collector.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: await r.json() }))
    const s = await admin('/api/v1/sites', {
      domain: SITE,
      privacy_center: { sender_name: 'Shop', topics: ['Product news', 'Events'], frequencies: ['weekly', 'monthly', 'never'] },
    })
    assert.ok(s.status < 300, JSON.stringify(s))
    const h = await admin(`/api/v1/sites/${SITE}/webhooks`, { url: `http://127.0.0.1:${hookPort}/hook`, name: 'Our CRM' })
    assert.equal(h.status, 201, JSON.stringify(h))
    rec = await startRecorder(collector)
    const api = { 'data-site': SITE, 'data-api': rec.origin, 'data-track': 'forms privacy' }
    const footer = `<footer><a id="privacy" href="${rec.origin}/privacy/center?site=${SITE}">Privacy</a></footer>`
    site = await startSite({
      '/center/*': () =>
        html(
          tag('/js/candor.forms.privacy.js', api),
          `<form data-candor-form action="/thanks" method="post" onsubmit="event.preventDefault()">
             <input data-candor-field="email" name="email" value="grace@example.org">
             <input data-candor-field="name" name="name" value="Grace Hopper">
             <button id="send">Send</button></form>${footer}`,
        ),
    })
    ;({ browser, newContext } = await launch())
  })

  after(async () => {
    await browser?.close()
    await site?.stop()
    await rec?.stop()
    await collector?.stop()
    await smtp?.stop()
    await new Promise((r) => (hookServer ? hookServer.close(r) : r()))
  })

  const pull = async () => {
    const r = await fetch(`${collector.base}/api/v1/leads?site=${SITE}`, { headers: { Authorization: `Bearer ${collector.token}` } })
    assert.equal(r.status, 200)
    return (await r.json()).leads
  }

  it('a visitor sees, changes, takes and erases what the site holds, through a link sent by mail', async () => {
    const ctx = await newContext({ acceptDownloads: true })
    const page = await ctx.newPage()
    await page.goto(site.url('/center/form'))
    await page.evaluate(() => window.candor.consent('marketing'))
    await page.click('#send')
    const [lead] = await until(async () => {
      const l = await pull()
      return l.length ? l : null
    })
    assert.equal(lead.email, 'grace@example.org')

    // The center, opened from the page's footer link, knows this browser's level but shows no person.
    const [center] = await Promise.all([page.waitForEvent('popup'), page.click('#privacy')])
    await center.waitForLoadState()
    assert.equal(await center.textContent('#level'), 'Marketing')
    const text = await center.textContent('main')
    assert.ok(!text.includes('grace@example.org') && !text.includes('Grace'), 'no contact detail for a browser id alone')
    assert.match(text, /Our CRM/, 'recipients by name')
    await axe(center, 'the privacy center')

    await center.fill('#email', 'grace@example.org')
    await center.click('button[type=submit]')
    await center.waitForSelector('text=Check your inbox')
    const [mail] = await until(() => (smtp.mails().length ? smtp.mails() : null), { timeout: 20000 })
    assert.deepEqual(mail.rcpt_tos, ['grace@example.org'])
    assert.match(mail.from, /^Shop <privacy@shop\.test>$/)
    assert.ok(mail.html, 'an HTML part next to the plain text')
    const link = mail.text.match(/http:\/\/collector\.test:\d+\/privacy\/center\/open\?token=[\w-]+/)[0]

    // The link shows the details (after one click, so a mail scanner cannot use it up).
    const me = await ctx.newPage()
    await me.goto(link)
    await me.click('text=Show my data')
    await me.waitForSelector('text=What shop.test holds about you')
    const details = await me.textContent('main')
    assert.match(details, /grace@example\.org/)
    assert.match(details, /Grace Hopper/)
    await axe(me, 'the signed-in page')
    // On a phone: nothing wider than the screen.
    await me.setViewportSize({ width: 360, height: 740 })
    assert.ok(await me.evaluate(() => document.documentElement.scrollWidth <= 360), 'no horizontal scrolling on a phone')
    await me.setViewportSize({ width: 1280, height: 800 })

    // Preferences: monthly, about events → a new lead version in the pull API and a webhook.
    const before = (await pull())[0].updated_at
    await me.check('input[name=frequency][value=monthly]')
    await me.check('input[name=topic][value=Events]')
    await me.click('text=Save preferences')
    await me.waitForSelector('text=Saved: your contact preferences.')
    // (The pull API shows a change once it has settled, two seconds on.)
    const [updated] = await until(async () => {
      const l = await pull()
      return l.length && l[0].updated_at > before ? l : null
    })
    assert.deepEqual(updated.preferences, { frequency: 'monthly', topics: ['Events'] })
    assert.ok(updated.updated_at > before)
    await until(() => hooks.some((h) => h.type === 'lead.updated' && h.data.lead.preferences?.frequency === 'monthly'))

    // Download: everything, as JSON.
    const [download] = await Promise.all([me.waitForEvent('download'), me.click('text=Download everything as JSON')])
    const data = JSON.parse(readFileSync(await download.path(), 'utf8'))
    assert.equal(data.lead.email, 'grace@example.org')
    assert.equal(data.lead.name, 'Grace Hopper')
    assert.deepEqual(data.lead.preferences, { frequency: 'monthly', topics: ['Events'] })
    assert.equal(data.lead.lead_id, lead.id)

    // Erase → tombstone in the pull API, lead.erased delivered, nothing shown any more.
    await me.check('input[name=confirm]')
    await me.click('text=Erase me')
    await me.waitForSelector('text=Erased')
    const [gone] = await until(async () => {
      const l = await pull()
      return l.length && l[0].status === 'erased' ? l : null
    })
    assert.equal(gone.status, 'erased')
    assert.equal(gone.email, undefined)
    await until(() => hooks.some((h) => h.type === 'lead.erased' && h.data.lead.id === lead.id))
    const after = await me.goto(link)
    assert.equal(after.status(), 410, 'a used link shows nothing')
    await ctx.close()
  })

  it('consent changed in the center is what the next beacon carries', async () => {
    const ctx = await newContext()
    const page = await ctx.newPage()
    await page.goto(site.url('/center/consent'))
    await page.evaluate(() => window.candor.consent('marketing'))
    assert.ok(await page.evaluate(() => localStorage.getItem('candor_vid')))
    const [center] = await Promise.all([page.waitForEvent('popup'), page.evaluate(() => window.candor.privacy())])
    await center.waitForLoadState()
    await center.click('button[data-level=analytics]')
    await center.waitForSelector('text=Saved: Analytics')
    await until(() => page.evaluate(() => localStorage.getItem('candor_consent') === 'analytics'))
    rec.clear()
    await page.evaluate(() => window.candor('Signup'))
    await until(() => rec.bodies('/api/event').length >= 1)
    const [beacon] = rec.bodies('/api/event')
    assert.equal(beacon.consent, 'analytics')
    assert.equal(beacon.vid, undefined)
    assert.equal(await page.evaluate(() => localStorage.getItem('candor_vid')), null, 'the marketing id is gone')
    // A page that is not the collector cannot change it.
    await page.evaluate(() => window.postMessage({ candor: 'consent', level: 'marketing' }, '*'))
    await page.evaluate(() => window.candor('Signup'))
    await until(() => rec.bodies('/api/event').length >= 2)
    assert.equal(rec.bodies('/api/event')[1].consent, 'analytics')
    await ctx.close()
  })
})

describe('privacy center without mail', () => {
  it('still shows what is collected and says how to reach the owner; link requests get 503', async () => {
    const collector = await startCollector()
    try {
      await fetch(`${collector.base}/api/v1/sites`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${collector.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ domain: SITE, privacy_center: { contact: 'by writing to privacy@shop.test' } }),
      })
      const page = await (await fetch(`${collector.base}/privacy/center?site=${SITE}`)).text()
      assert.match(page, /does not send mail from here/)
      assert.match(page, /by writing to privacy@shop\.test/)
      assert.doesNotMatch(page, /Email me a link/)
      const r = await fetch(`${collector.base}/api/privacy/link`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ site: SITE, email: 'grace@example.org' }),
      })
      assert.equal(r.status, 503)
      assert.match((await r.json()).error, /does not send mail; contact the site owner by writing to privacy@shop\.test/)
    } finally {
      await collector.stop()
    }
  })
})
