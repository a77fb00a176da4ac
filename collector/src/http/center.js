// The privacy center's only script: the consent buttons. The choice lives in the browser on
// the site's own origin, so the center (on the collector's origin) can change it only through
// the page that opened it: candor.privacy() on the site opens this page and takes the level
// back by postMessage. Opened any other way, the buttons stay off and the page says why.
;(() => {
  const box = document.getElementById('consent')
  if (!box) return
  const opener = window.opener
  const note = document.getElementById('consent-note')
  const level = document.getElementById('level')
  const buttons = box.querySelectorAll('button[data-level]')
  const mark = (v) => {
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.level === v))
  }
  mark(box.dataset.current)
  if (!opener) return
  note.textContent = 'Your choice is saved in this browser for ' + box.dataset.site + ' at once.'
  for (const b of buttons) {
    b.disabled = false
    b.addEventListener('click', () => {
      const v = b.dataset.level
      // The level is not secret; the snippet accepts it only from this page's origin.
      opener.postMessage({ candor: 'consent', level: v }, '*')
      level.textContent = b.dataset.label
      mark(v)
      note.textContent = 'Saved: ' + b.dataset.label + '. It applies to your next visit to any page of ' + box.dataset.site + '.'
    })
  }
})()
