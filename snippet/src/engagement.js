// Engagement (data-track="engagement"): counts the milliseconds the page was both visible and
// focused, and reports them as a `pageleave` event for the URL being left: when the tab is
// hidden, the page unloaded or put in the back/forward cache, or an SPA route changes (the core
// calls leave() before each new page view).

const d = document
const l = location

// A no-op until engagement() starts measuring; the core calls it before each page view.
export let leave = () => {}

export const engagement = (send) => {
  let ms = 0
  let since = 0
  let url = l.href
  const tick = () => {
    const t = Date.now()
    if (since) ms += t - since
    since = d.visibilityState == 'visible' && d.hasFocus() ? t : 0
  }
  // `gone`: the page is being hidden or unloaded, so stop counting until it is shown again
  // (pagehide comes before visibilitychange, while the page still reads as visible).
  leave = (gone) => {
    tick()
    ms && send('pageleave', { engaged_ms: ms }, url)
    ms = 0
    url = l.href
    if (gone) since = 0
  }
  tick()
  addEventListener('focus', tick)
  addEventListener('blur', tick)
  addEventListener('pagehide', () => leave(1))
  d.addEventListener('visibilitychange', () => (d.visibilityState == 'hidden' ? leave(1) : tick()))
}
