// Candor's tracker: page views, custom events, consent and opt-out in < 1 KB gzipped.
// It must never break the host page (every entry point catches what it could throw) and must
// send nothing at all for visitors who said no (DNT, GPC, automation, opt-out) nor from local
// hosts. Written for size: every byte here is downloaded by every visitor, so some idioms are
// chosen for how they minify and compress; the comments say what they mean.
//
// The extras are compiled in only for the variants that carry them (see build.mjs): the build
// defines OUTBOUND, DOWNLOADS, FORMS, ENGAGEMENT, HASH and PRIVACY as true or false, and esbuild drops
// the dead branches. In a variant an extra is active only when `data-track` names it.

import { engagement, leave } from './engagement.js'
import { forms } from './forms.js'
import { links } from './links.js'
import { privacy } from './privacy.js'

const w = window
const d = document
const n = navigator
const l = location
const MARKETING = 'marketing'
const NONE = 'none'

try {
  // localStorage keys: candor_consent (the level the page set), candor_vid (the marketing
  // visitor id), candor_ignore (opted out). Storage can be disabled or throw (sandboxed
  // frames, blocked cookies); then a plain object stands in and nothing outlives the page.
  let ls = {}
  try {
    ls = localStorage
  } catch (e) {}

  const s = d.currentScript
  const data = s.dataset
  const site = data.site || l.hostname
  const api = data.api || new URL(s.src).origin
  // Extra names are distinct words, none inside another, so a substring test is enough.
  const on = (x) => (data.track || '').includes(x)
  const cookie = data.consentCookie
  const exclude = data.exclude
  // localhost, 127.x.x.x, [::1], and the empty hostname of a file: page.
  const local = data.allowLocal == null && /^(localhost$|127\.|\[::1]|$)/.test(l.hostname)
  // The visitor's signals: any of them means not one request leaves the page. (The two
  // booleans are tested for truth, which is `=== true` for a boolean and errs on the side of
  // the visitor for anything else; `== 1` matches doNotTrack's string "1".)
  const refused = n.doNotTrack == 1 || n.globalPrivacyControl || n.webdriver

  // Every request goes through here. An opt-out still goes out under DNT/GPC or after
  // candor.optOut() (it only ever erases), but never from a local host.
  const post = (path, body, optout) => {
    try {
      if (local || (!optout && (refused || ls.candor_ignore))) return
      body.site = site
      const url = api + path
      const blob = new Blob([JSON.stringify(body)], { type: 'text/plain' })
      // no-cors: the answer is never read, so a collector without CORS headers logs no error.
      n.sendBeacon(url, blob) || fetch(url, { method: 'POST', keepalive: true, mode: 'no-cors', body: blob }).catch(() => {})
    } catch (e) {}
  }

  // The consent level now, with the stored id brought in line with it. The consent manager's
  // cookie, when configured and present, wins over the level the page set with
  // candor.consent(). Values: marketing|all -> marketing, analytics|statistics -> analytics,
  // anything else -> none (an inherited key such as "constructor" yields a function, which
  // compares unequal and which JSON leaves out: none as well). Only marketing holds an id
  // (128 random bits), and never for a visitor sending DNT/GPC; any other level deletes it and
  // tells the collector, which tombstones the lead.
  const current = () => {
    let v = ls.candor_consent
    const c = cookie && ('; ' + d.cookie).split('; ' + cookie + '=')[1]
    if (c) v = c.split(';')[0]
    v = { marketing: MARKETING, all: MARKETING, analytics: 'analytics', statistics: 'analytics' }[v] || NONE
    const vid = ls.candor_vid
    v == MARKETING
      ? vid || refused || (ls.candor_vid = crypto.getRandomValues(new Uint32Array(4)).join(''))
      : vid && (post('/api/optout', { vid }, 1), delete ls.candor_vid)
    return v
  }

  // window.candor(name, {props}). `url` and `o.engaged_ms` are for the engagement extra.
  const send = (name, o, url) => {
    try {
      // data-exclude: comma-separated path patterns in which `*` matches any run of characters.
      if (exclude && RegExp('^(' + exclude.replace(/ *, */g, '|').replace(/\*/g, '.*') + ')$').test(l.pathname)) return
      post('/api/event', {
        name,
        url: (ENGAGEMENT && url) || l.href,
        referrer: d.referrer || null,
        screen_width: innerWidth,
        props: o && o.props,
        consent: current(),
        // current() (just above) left an id only under marketing consent.
        vid: ls.candor_vid,
        ...(ENGAGEMENT && o && { engaged_ms: o.engaged_ms }),
        // Hash routing: the collector then keeps the fragment as part of the stored path.
        ...(HASH && on('hash') && { hash: true }),
      })
    } catch (e) {}
  }

  // One page view per distinct URL: SPA routers often push or replace the same URL twice.
  let last
  const page = () => {
    const key = HASH && on('hash') ? l.href : l.href.split('#')[0]
    if (key != last) {
      ENGAGEMENT && last && leave()
      last = key
      send('pageview')
    }
  }

  // Calls made before the script loaded wait in candor.q (the README's stub).
  const queue = (w.candor && w.candor.q) || []
  const candor = (w.candor = send)
  candor.consent = (v) => {
    try {
      ls.candor_consent = v
      current()
    } catch (e) {}
  }
  candor.identify = (c) => {
    try {
      current() == MARKETING
        ? post('/api/identify', {
            vid: ls.candor_vid,
            consent: MARKETING,
            email: c.email,
            name: c.name,
            company: c.company,
            url: l.href,
          })
        : console.warn('candor: no marketing consent')
    } catch (e) {}
  }
  candor.optOut = () => {
    candor.consent(NONE)
    ls.candor_ignore = 1
  }
  candor.optIn = () => delete ls.candor_ignore

  for (const k of ['pushState', 'replaceState']) {
    const orig = history[k]
    history[k] = (...args) => {
      orig.apply(history, args)
      page()
    }
  }
  addEventListener('popstate', page)
  HASH && on('hash') && addEventListener('hashchange', page)
  ;(OUTBOUND || DOWNLOADS) && links(send, OUTBOUND && on('outbound'), DOWNLOADS && on('downloads'))
  FORMS && on('forms') && forms(candor.identify)
  ENGAGEMENT && on('engagement') && engagement(send)
  PRIVACY && on('privacy') && privacy(candor, api, site, current)

  page()
  queue.forEach((args) => candor(...args))
} catch (e) {}
