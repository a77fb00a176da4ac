// Settings, for a session opened with an admin token (the session's site says `admin: true`):
// the site's goals, its dashboard password, API tokens, its time zone, its privacy center, and
// new sites. Stats
// readers never see this view, and it never calls these endpoints for them.

import { api, ApiError } from './api.js'
import { h, fill } from './dom.js'
import { moment } from './format.js'

const SCOPES = [
  ['stats:read', 'Read statistics'],
  ['leads:read', 'Read leads (names, emails)'],
  ['leads:write', 'Erase leads'],
  ['sql:read', 'Run SQL'],
  ['admin', 'Administer (settings, tokens)'],
]
const MIN_PASSWORD = 10

const timeZones = () => {
  try {
    return Intl.supportedValuesOf('timeZone')
  } catch {
    return ['UTC']
  }
}

// A form that reports its own outcome: `run()` does the work and returns a message, or throws.
const action = (form, status, run) => {
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const button = form.querySelector('button[type="submit"]')
    status.className = 'form-status'
    status.textContent = ''
    if (button) button.disabled = true
    try {
      status.textContent = (await run()) || ''
    } catch (err) {
      status.className = 'form-status error'
      status.textContent = err.message
    } finally {
      if (button) button.disabled = false
    }
  })
}

const field = (id, label, input, hint) =>
  h('div', { class: 'field' }, h('label', { for: id }, label), input, hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null)

const section = (id, title, ...children) =>
  h('section', { class: `settings-card${id === 'tokens-h' ? ' wide' : ''}`, 'aria-labelledby': id }, h('h3', { id }, title), ...children)

// `onAuth()` when the session has ended; `onSites()` after the list of sites or a time zone changed.
export const createSettings = ({ onAuth, onSites }) => {
  let site = null
  const fail = (e) => {
    if (e instanceof ApiError && e.status === 401) onAuth()
    throw e
  }
  const call = (path, opts) => api(path, opts).catch(fail)
  const sitePath = () => `/api/v1/sites/${encodeURIComponent(site.domain)}`

  // --- goals ---
  const goalsBody = h('div', { class: 'settings-list' })
  const goalsStatus = h('p', { class: 'form-status', role: 'status' })
  const goalKind = h('select', { id: 'goal-kind' }, h('option', { value: 'event_name' }, 'Custom event'), h('option', { value: 'page_path' }, 'Page visit'))
  const goalValue = h('input', { id: 'goal-value', type: 'text', required: true, autocomplete: 'off', 'aria-describedby': 'goal-value-hint' })
  const goalName = h('input', { id: 'goal-name', type: 'text', autocomplete: 'off' })
  const goalForm = h('form', { class: 'settings-form' },
    field('goal-kind', 'Goal trigger', goalKind),
    field('goal-value', 'Event name or page path', goalValue, 'An event name as sent (Signup), or a page path; * matches within a segment, ** across (/blog/**).'),
    field('goal-name', 'Display name (optional)', goalName),
    h('button', { type: 'submit' }, 'Add goal'), goalsStatus)
  action(goalForm, goalsStatus, async () => {
    const value = goalValue.value.trim()
    const body = { [goalKind.value]: value, ...(goalName.value.trim() ? { display_name: goalName.value.trim() } : {}) }
    const goal = await call(`${sitePath()}/goals`, { method: 'POST', body })
    goalValue.value = ''
    goalName.value = ''
    await loadGoals()
    return `Goal “${goal?.display_name || value}” added.`
  })
  const loadGoals = async () => {
    const data = await call(`${sitePath()}/goals`)
    const goals = Array.isArray(data?.goals) ? data.goals : []
    fill(goalsBody, goals.length
      ? h('table', { class: 'settings-table' },
        h('caption', { class: 'sr-only' }, `Goals of ${site.domain}`),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Goal'), h('th', { scope: 'col' }, 'Counts'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
        h('tbody', {}, goals.map((g) => h('tr', {},
          h('th', { scope: 'row' }, g.display_name || g.event_name || g.page_path),
          h('td', {}, g.goal_type === 'page' ? `visits to ${g.page_path}` : `event ${g.event_name}`),
          h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': `Delete goal ${g.display_name || g.event_name || g.page_path}`, onclick: () => deleteGoal(g) }, 'Delete'))))))
      : h('p', { class: 'empty' }, 'No goals yet. A goal counts the visitors who send an event or visit a page.'))
  }
  const deleteGoal = async (g) => {
    if (!confirm(`Delete the goal “${g.display_name || g.event_name || g.page_path}”? Its conversions are no longer counted.`)) return
    goalsStatus.className = 'form-status'
    try {
      await call(`${sitePath()}/goals/${encodeURIComponent(g.id)}`, { method: 'DELETE' })
      goalsStatus.textContent = 'Goal deleted.'
      await loadGoals()
    } catch (e) {
      goalsStatus.className = 'form-status error'
      goalsStatus.textContent = e.message
    }
  }

  // --- dashboard password ---
  const password = h('input', { id: 'site-password', type: 'password', autocomplete: 'new-password', minlength: String(MIN_PASSWORD), required: true, 'aria-describedby': 'site-password-hint' })
  const passwordStatus = h('p', { class: 'form-status', role: 'status' })
  const passwordForm = h('form', { class: 'settings-form' },
    field('site-password', 'New dashboard password', password, `At least ${MIN_PASSWORD} characters. Anyone with it can read this site's statistics (not People).`),
    h('div', { class: 'buttons' }, h('button', { type: 'submit' }, 'Set password'),
      h('button', { type: 'button', class: 'danger', onclick: () => removePassword() }, 'Remove password')),
    passwordStatus)
  action(passwordForm, passwordStatus, async () => {
    await call(`${sitePath()}/dashboard-password`, { method: 'PUT', body: { password: password.value } })
    password.value = ''
    return `Password set: sign in with ${site.domain} and it.`
  })
  const removePassword = async () => {
    passwordStatus.className = 'form-status'
    try {
      await call(`${sitePath()}/dashboard-password`, { method: 'DELETE' })
      passwordStatus.textContent = 'Password removed: only tokens sign in to this site.'
    } catch (e) {
      passwordStatus.className = 'form-status error'
      passwordStatus.textContent = e.status === 404 ? 'This site has no dashboard password.' : e.message
    }
  }

  // --- tokens ---
  const tokensBody = h('div', { class: 'settings-list' })
  const tokenStatus = h('p', { class: 'form-status', role: 'status' })
  const newToken = h('div', { class: 'new-token' })
  const tokenName = h('input', { id: 'token-name', type: 'text', required: true, autocomplete: 'off' })
  const scopeBoxes = SCOPES.map(([id, label]) => {
    const box = h('input', { type: 'checkbox', id: `scope-${id.replace(':', '-')}`, value: id, checked: id === 'stats:read' })
    return [box, h('div', { class: 'check' }, box, h('label', { for: box.id }, `${label} (${id})`))]
  })
  const onlySite = h('input', { type: 'checkbox', id: 'token-site', checked: true })
  const onlySiteLabel = h('label', { for: 'token-site' })
  const tokenForm = h('form', { class: 'settings-form' },
    field('token-name', 'Token name', tokenName),
    h('fieldset', {}, h('legend', {}, 'Scopes'), scopeBoxes.map(([, el]) => el)),
    h('div', { class: 'check' }, onlySite, onlySiteLabel),
    h('button', { type: 'submit' }, 'Create token'), tokenStatus, newToken)
  action(tokenForm, tokenStatus, async () => {
    const scopes = scopeBoxes.map(([b]) => b).filter((b) => b.checked).map((b) => b.value)
    if (!scopes.length) throw new Error('Choose at least one scope.')
    const made = await call('/api/v1/tokens', { method: 'POST', body: { name: tokenName.value.trim(), scopes, sites: onlySite.checked ? [site.domain] : [] } })
    tokenName.value = ''
    showToken(made)
    await loadTokens()
    return ''
  })
  // The secret is shown once, here, and never again.
  const showToken = (made) => {
    const out = h('input', { id: 'token-secret', type: 'text', readonly: true, value: made?.token || '', class: 'secret' })
    const copied = h('span', { class: 'hint', role: 'status' })
    fill(newToken, h('div', { class: 'notice' },
      h('label', { for: 'token-secret' }, h('strong', {}, `Token “${made?.name}”`), ' — copy it now, it is shown only once:'),
      h('div', { class: 'value-row' }, out, h('button', { type: 'button', onclick: async () => {
        out.select()
        try {
          await navigator.clipboard.writeText(out.value)
          copied.textContent = 'Copied.'
        } catch {
          copied.textContent = document.execCommand?.('copy') ? 'Copied.' : 'Select it and copy it by hand.'
        }
      } }, 'Copy')), copied))
  }
  const loadTokens = async () => {
    const data = await call('/api/v1/tokens')
    const tokens = Array.isArray(data?.tokens) ? data.tokens : []
    fill(tokensBody, tokens.length
      ? h('table', { class: 'settings-table' },
        h('caption', { class: 'sr-only' }, 'API tokens'),
        h('thead', {}, h('tr', {}, ['Name', 'Scopes', 'Sites'].map((c) => h('th', { scope: 'col' }, c)), h('th', { scope: 'col', class: 'created' }, 'Created'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
        h('tbody', {}, tokens.map((t) => h('tr', {},
          h('th', { scope: 'row' }, t.name),
          h('td', {}, (t.scopes || []).join(', ')),
          h('td', {}, t.sites?.length ? t.sites.join(', ') : 'all sites'),
          h('td', { class: 'created' }, moment(t.created_at, site.timezone || 'UTC', true)),
          h('td', {}, h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke token ${t.name}`, onclick: () => revoke(t) }, 'Revoke'))))))
      : h('p', { class: 'empty' }, 'No API tokens besides the one from the server’s settings.'))
  }
  const revoke = async (t) => {
    if (!confirm(`Revoke the token “${t.name}”? Whatever uses it stops working.`)) return
    tokenStatus.className = 'form-status'
    try {
      await call(`/api/v1/tokens/${encodeURIComponent(t.id)}`, { method: 'DELETE' })
      tokenStatus.textContent = `Token “${t.name}” revoked.`
      fill(newToken)
      await loadTokens()
    } catch (e) {
      tokenStatus.className = 'form-status error'
      tokenStatus.textContent = e.message
    }
  }

  // --- the site and new sites ---
  const zoneList = h('datalist', { id: 'time-zones' }, timeZones().map((z) => h('option', { value: z })))
  const zone = h('input', { id: 'site-timezone', type: 'text', list: 'time-zones', required: true, autocomplete: 'off', 'aria-describedby': 'site-timezone-hint' })
  const siteStatus = h('p', { class: 'form-status', role: 'status' })
  const siteForm = h('form', { class: 'settings-form' },
    field('site-timezone', 'Time zone', zone, 'An IANA name such as Europe/Berlin: days, hours and periods of this site follow it.'), zoneList,
    h('button', { type: 'submit' }, 'Save time zone'), siteStatus)
  action(siteForm, siteStatus, async () => {
    await call('/api/v1/sites', { method: 'POST', body: { domain: site.domain, timezone: zone.value.trim() } })
    await onSites()
    return `Time zone saved: ${zone.value.trim()}.`
  })
  const newDomain = h('input', { id: 'new-site', type: 'text', required: true, autocomplete: 'off', placeholder: 'shop.example' })
  const newZone = h('input', { id: 'new-site-timezone', type: 'text', list: 'time-zones', autocomplete: 'off' })
  const newSiteStatus = h('p', { class: 'form-status', role: 'status' })
  const newSiteForm = h('form', { class: 'settings-form' },
    field('new-site', 'Domain', newDomain),
    field('new-site-timezone', 'Time zone', newZone),
    h('button', { type: 'submit' }, 'Add site'), newSiteStatus)
  action(newSiteForm, newSiteStatus, async () => {
    const domain = newDomain.value.trim()
    await call('/api/v1/sites', { method: 'POST', body: { domain, ...(newZone.value.trim() ? { timezone: newZone.value.trim() } : {}) } })
    newDomain.value = ''
    await onSites()
    return `Site ${domain} added: choose it under Site to see its script tag.`
  })

  // --- the privacy center: what people are offered there, and its mail ---
  const lines = (v) => v.split('\n').map((x) => x.trim()).filter(Boolean)
  const sender = h('input', { id: 'center-sender', type: 'text', maxlength: 80, autocomplete: 'off', 'aria-describedby': 'center-sender-hint' })
  const contact = h('input', { id: 'center-contact', type: 'text', maxlength: 200, autocomplete: 'off', 'aria-describedby': 'center-contact-hint' })
  const frequencies = h('textarea', { id: 'center-frequencies', rows: 4, required: true, 'aria-describedby': 'center-frequencies-hint' })
  const topics = h('textarea', { id: 'center-topics', rows: 3, 'aria-describedby': 'center-topics-hint' })
  const yearly = h('input', { id: 'center-yearly', type: 'checkbox' })
  const centerLink = h('a', { target: '_blank', rel: 'noopener' }, 'Open the privacy center')
  const mailLog = h('p', { class: 'hint' })
  const centerStatus = h('p', { class: 'form-status', role: 'status' })
  const centerForm = h('form', { class: 'settings-form' },
    h('p', { class: 'hint' }, 'Where visitors see what this site collects, change their consent, and — with a link sent to their address — see, correct, download or erase what it holds about them. Link it from the site’s footer. ', centerLink),
    field('center-sender', 'Sender name', sender, 'The name mails to people are sent under; empty: the domain.'),
    field('center-contact', 'How to reach you', contact, 'Shown when the collector cannot send mail, e.g. an address.'),
    field('center-frequencies', 'Contact frequencies offered', frequencies, 'One per line, in the order shown.'),
    field('center-topics', 'Topics offered', topics, 'One per line; may be empty.'),
    h('label', { class: 'check', for: 'center-yearly' }, yearly, 'Mail identified people once a year what this site holds about them'),
    h('button', { type: 'submit' }, 'Save privacy center'), centerStatus, mailLog)
  action(centerForm, centerStatus, async () => {
    for (const [name, list] of [['frequencies', lines(frequencies.value)], ['topics', lines(topics.value)]]) {
      const twice = list.find((x, i) => list.indexOf(x) !== i)
      if (twice) throw new Error(`${name}: “${twice}” is listed twice`)
    }
    const privacy_center = {
      sender_name: sender.value.trim(),
      contact: contact.value.trim(),
      frequencies: lines(frequencies.value),
      topics: lines(topics.value),
      yearly_notice: yearly.checked,
    }
    await call('/api/v1/sites', { method: 'POST', body: { domain: site.domain, privacy_center } })
    return 'Privacy center saved.'
  })
  const loadCenter = async () => {
    const [{ sites }, { deliveries }] = await Promise.all([call('/api/v1/sites'), call(`${sitePath()}/mail`)])
    const c = sites.find((x) => x.domain === site.domain)?.privacy_center || {}
    sender.value = c.sender_name || ''
    contact.value = c.contact || ''
    frequencies.value = (c.frequencies || []).join('\n')
    topics.value = (c.topics || []).join('\n')
    yearly.checked = !!c.yearly_notice
    centerLink.href = `/privacy/center?site=${encodeURIComponent(site.domain)}`
    const by = (status) => deliveries.filter((d) => d.status === status).length
    mailLog.textContent = deliveries.length
      ? `Mail: ${by('delivered')} delivered, ${by('pending')} waiting, ${by('failed') + by('expired')} not delivered (latest ${deliveries.length}).`
      : 'No mail sent yet.'
  }

  const title = h('h2', { id: 'settings-h' })
  const error = h('div', { class: 'settings-error' })
  // Built into the page on first use only: a reader's page holds none of these controls.
  const el = h('section', { class: 'settings', 'aria-labelledby': 'settings-h' }, title, error)
  const grid = h('div', { class: 'settings-grid' },
      section('goals-h', 'Goals', goalsBody, goalForm),
      section('tokens-h', 'API tokens', tokensBody, tokenForm),
      section('password-h', 'Dashboard password', passwordForm),
      section('site-h', 'This site', siteForm),
      section('center-h', 'Privacy center', centerForm),
      section('new-site-h', 'Add a site', newSiteForm))

  const load = async (s, siteEntry) => {
    const changed = site?.domain !== siteEntry.domain
    site = siteEntry
    if (!grid.isConnected) el.append(grid)
    title.textContent = `Settings of ${site.domain}`
    onlySiteLabel.textContent = `Only for ${site.domain}`
    zone.value = site.timezone || 'UTC'
    if (changed) {
      fill(newToken)
      for (const s of [goalsStatus, tokenStatus, passwordStatus, siteStatus, centerStatus, newSiteStatus]) s.textContent = ''
    }
    fill(error)
    try {
      await Promise.all([loadGoals(), loadTokens(), loadCenter()])
    } catch (e) {
      fill(error, h('p', { class: 'error' }, `Could not load the settings: ${e.message}`))
    }
  }
  return { el, load }
}
