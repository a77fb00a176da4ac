// Outbound-link and file-download clicks (data-track="outbound downloads"). Event names match
// Plausible's so goal names carry over. The URL is sent without its query string or fragment:
// download links often carry tokens there.

import { safe } from './safe.js'

const FILE = /\.(pdf|xlsx?|docx?|pptx?|txt|rtf|csv|json|xml|exe|msi|dmg|pkg|deb|rpm|apk|iso|7z|rar|zip|gz|tgz|bz2|xz|mp3|wav|mp4|mov|avi|mkv|webm)$/i

export const links = (send, outbound, downloads) => {
  if (!outbound && !downloads) return
  const click = safe((e) => {
    // A middle click opens the link too; a right click does not.
    if (e.type == 'auxclick' && e.button != 1) return
    const a = e.target.closest('a[href]')
    if (!a || !a.host) return
    const props = { url: a.href.split(/[?#]/)[0] }
    if (downloads && (a.hasAttribute('download') || FILE.test(a.pathname))) send('File Download', { props })
    else if (outbound && a.host != location.host) send('Outbound Link: Click', { props })
  })
  addEventListener('click', click, true)
  addEventListener('auxclick', click, true)
}
