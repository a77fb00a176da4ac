// Engagement (data-track="engagement"): counts the milliseconds the page was both visible and
// focused, and reports them as a `pageleave` event when the visitor leaves (tab hidden, page
// unloaded or bfcached, or an SPA route change). Returns `leave(url)` for the SPA case.

export const engagement = (send) => {
  const d = document
  let ms = 0
  let since = 0
  const tick = () => {
    const t = Date.now()
    if (since) ms += t - since
    since = d.visibilityState == 'visible' && d.hasFocus() ? t : 0
  }
  const leave = (url) => {
    tick()
    ms && send('pageleave', { engaged_ms: ms }, url)
    ms = 0
  }
  tick()
  addEventListener('focus', tick)
  addEventListener('blur', tick)
  addEventListener('pagehide', () => leave())
  d.addEventListener('visibilitychange', () => (d.visibilityState == 'hidden' ? leave() : tick()))
  return leave
}
