// The privacy center (data-track="privacy"): candor.privacy() opens the site's privacy center
// on the collector, where the visitor reads what the site collects and changes this browser's
// consent. The center lives on the collector's origin and cannot touch this page's storage, so
// it hands the chosen level back by postMessage, taken from the collector's origin only. A link
// to the center on the page (its href contains /privacy/center) opens it the same way; without
// this script such a link still shows the center, read-only.

import { safe } from './safe.js'

export const privacy = (candor, api, site, level) => {
  const origin = new URL(api).origin
  // Not noopener: the center answers through window.opener.
  candor.privacy = safe(() => open(origin + '/privacy/center?site=' + encodeURIComponent(site) + '&consent=' + level()))
  addEventListener(
    'message',
    safe((e) => {
      const m = e.data
      if (e.origin == origin && m && m.candor == 'consent') candor.consent(m.level)
    }),
  )
  addEventListener(
    'click',
    safe((e) => {
      const a = e.target.closest('a[href*="/privacy/center"]')
      if (a && !e.ctrlKey && !e.metaKey && !e.shiftKey) {
        e.preventDefault()
        candor.privacy()
      }
    }),
  )
}
