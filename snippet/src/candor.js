// Candor's tracker: page views, custom events, consent and opt-out in < 1 KB gzipped.
// It must never break the host page (every entry point is wrapped by `safe`) and must send
// nothing at all for visitors who said no (DNT, GPC, automation, opt-out, local hosts).
//
// The extras are compiled in only for the variants that carry them (see build.mjs): the
// build defines OUTBOUND, DOWNLOADS, FORMS, ENGAGEMENT and HASH as true or false, and
// esbuild drops the dead branches. In a variant an extra is active only when `data-track`
// names it.

import { engagement } from './engagement.js'
import { forms } from './forms.js'
import { links } from './links.js'

const w = window
const d = document
const n = navigator
const l = location

// localStorage keys: the consent level, the marketing visitor id, the opt-out flag.
const CONSENT = 'candor_consent'
const VID = 'candor_vid'
const IGNORE = 'candor_ignore'
const MARKETING = 'marketing'
const LEVELS = ['none', 'analytics', MARKETING]

// Runs f, swallowing anything it throws: the host page must never see our errors.
const safe = (f) =>
  function () {
    try {
      return f.apply(this, arguments)
    } catch (e) {}
  }

// store(k) reads, store(k, v) writes, store(k, 0) removes. Storage can be disabled or
// throw (sandboxed frames, some private modes); then there is simply nothing stored.
const store = (k, v) => {
  try {
    const s = localStorage
    return v === undefined ? s.getItem(k) : v ? s.setItem(k, v) : s.removeItem(k)
  } catch (e) {}
}

safe(() => {
  // A second copy of the tag must not double-count or wrap history twice.
  if (w.candor && w.candor.l) return

  const s = d.currentScript
  const attr = (k) => s.getAttribute('data-' + k)
  const site = attr('site') || l.hostname
  const api = (attr('api') || new URL(s.src).origin).replace(/\/$/, '')
  const extras = (attr('track') || '').split(/[\s,]+/)
  const on = (x) => extras.indexOf(x) >= 0
  const hash = HASH && on('hash')
  const cookie = attr('consent-cookie')

  // Path patterns: `*` matches any run of characters, everything else is literal.
  const exclude = (attr('exclude') || '')
    .split(',')
    .filter((p) => p.trim())
    .map((p) => RegExp('^' + p.trim().replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$'))

  const local =
    attr('allow-local') == null && (/^(localhost|127(\.\d+){3}|\[::1\])$/.test(l.hostname) || l.protocol == 'file:')
  // The visitor's signals, read once: any of them means not one request leaves the page.
  const refused = n.doNotTrack == '1' || n.globalPrivacyControl === true || n.webdriver === true

  // Every request goes through here. An opt-out POST still goes out under DNT/GPC (it only
  // ever erases) but never from a local host.
  const post = (path, body, optout) => {
    if (local || (!optout && (refused || store(IGNORE)))) return
    const url = api + path
    const b = JSON.stringify(body)
    // no-cors: we never read the answer, so a collector without CORS headers logs no error.
    n.sendBeacon && n.sendBeacon(url, new Blob([b], { type: 'text/plain' })) ||
      fetch(url, { method: 'POST', keepalive: true, mode: 'no-cors', body: b, headers: { 'Content-Type': 'text/plain' } }).catch(() => {})
  }

  // Keeps the stored id in line with a consent level: only marketing holds an id; any
  // other level deletes it and tells the collector (which tombstones the lead).
  const sync = (level) => {
    const vid = store(VID)
    if (level == MARKETING) {
      vid ||
        store(
          VID,
          Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => (b | 256).toString(16).slice(1)).join(''),
        )
    } else if (vid) {
      post('/api/optout', { site, vid }, 1)
      store(VID, 0)
    }
  }

  // The consent manager's cookie (when configured and present) wins over the level the
  // page set with candor.consent(). Its value, or any comma/space separated item of it:
  // marketing|all -> marketing, analytics|statistics -> analytics, anything else -> none.
  const level = () => {
    let v = store(CONSENT)
    if (cookie) {
      const c = d.cookie.split(/; */).find((c) => c.split('=')[0] == cookie)
      if (c) {
        const items = decodeURIComponent(c.slice(cookie.length + 1)).toLowerCase().split(/[\s,]+/)
        const has = (x) => items.indexOf(x) >= 0
        v = has(MARKETING) || has('all') ? MARKETING : has('analytics') || has('statistics') ? 'analytics' : 'none'
      }
    }
    v = LEVELS.indexOf(v) < 0 ? 'none' : v
    sync(v)
    return v
  }

  const send = safe((name, o, url) => {
    if (exclude.some((r) => r.test(l.pathname))) return
    o = o || {}
    const consent = level()
    post('/api/event', {
      site,
      name,
      url: url || l.href,
      referrer: d.referrer || null,
      screen_width: w.innerWidth,
      props: o.props,
      consent,
      vid: (consent == MARKETING && store(VID)) || undefined,
      engaged_ms: o.engaged_ms,
    })
  })

  const leave = ENGAGEMENT && on('engagement') && engagement(send)

  // A page view per distinct URL: SPA routers often push or replace the same URL twice.
  let last, lastHref
  const page = safe(() => {
    const key = hash ? l.href : l.href.split('#')[0]
    if (key == last) return
    leave && lastHref && leave(lastHref)
    last = key
    lastHref = l.href
    send('pageview')
  })

  // Calls made before the script loaded wait in candor.q (see the README's stub).
  const queue = (w.candor && w.candor.q) || []
  const candor = (w.candor = (name, o) => send(name, o))
  candor.l = 1
  candor.consent = safe((v) => {
    if (LEVELS.indexOf(v) < 0) return
    store(CONSENT, v)
    sync(v)
  })
  const identify = (candor.identify = safe((c) => {
    if (level() != MARKETING) return console.warn('candor: identify needs marketing consent')
    post('/api/identify', {
      site,
      vid: store(VID),
      consent: MARKETING,
      email: c.email,
      name: c.name,
      company: c.company,
      url: l.href,
    })
  }))
  candor.optOut = safe(() => {
    candor.consent('none')
    store(IGNORE, '1')
  })
  candor.optIn = safe(() => store(IGNORE, 0))

  for (const k of ['pushState', 'replaceState']) {
    const orig = history[k]
    history[k] = function () {
      const r = orig.apply(this, arguments)
      page()
      return r
    }
  }
  addEventListener('popstate', page)
  hash && addEventListener('hashchange', page)
  ;(OUTBOUND || DOWNLOADS) && links(send, OUTBOUND && on('outbound'), DOWNLOADS && on('downloads'), safe)
  FORMS && on('forms') && forms(identify, safe)

  page()
  queue.forEach((args) => candor.apply(w, args))
})()
