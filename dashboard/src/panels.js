// The breakdown panels: one small table per dimension, a bar behind each row, tabs where a
// panel has several dimensions, and a CSV export of the whole breakdown.

import { api, ApiError, query } from './api.js'
import { csvFileName, download, toCsv } from './csv.js'
import { h, fill, uid } from './dom.js'
import { dimensionLabel, displayValue, METRIC_LABELS, metricValue } from './format.js'
import { propKeys, recall, remember, rememberPropKey } from './prefs.js'
import { apiFilters, dateRange, GOAL_METRICS, include, statMetrics } from './state.js'

const VISITORS = ['visitors']

// Panels as written below: tabs are [label, dimension, metrics?], metrics defaulting to `metrics`.
export const definePanels = (list, metrics = VISITORS) =>
  list.map((p) => ({ ...p, tabs: p.tabs.map(([label, dimension, m = metrics]) => ({ label, dimension, metrics: m })) }))

export const PANELS = definePanels([
  {
    id: 'sources',
    title: 'Sources',
    tabs: [
      ['Channels', 'visit:channel'],
      ['Sources', 'visit:source'],
      ['Referrers', 'visit:referrer'],
      ['UTM medium', 'visit:utm_medium'],
      ['UTM source', 'visit:utm_source'],
      ['UTM campaign', 'visit:utm_campaign'],
      ['UTM content', 'visit:utm_content'],
      ['UTM term', 'visit:utm_term'],
    ],
  },
  {
    id: 'pages',
    title: 'Pages',
    tabs: [
      ['Top pages', 'event:page', ['visitors', 'pageviews']],
      ['Entry pages', 'visit:entry_page'],
      ['Exit pages', 'visit:exit_page'],
    ],
  },
  {
    id: 'locations',
    title: 'Locations',
    tabs: [
      ['Countries', 'visit:country'],
      ['Regions', 'visit:region'],
      ['Cities', 'visit:city'],
    ],
  },
  {
    id: 'devices',
    title: 'Devices',
    tabs: [
      ['Devices', 'visit:device'],
      ['Browsers', 'visit:browser'],
      ['OS', 'visit:os'],
    ],
  },
  {
    id: 'orgs',
    title: 'Organisations',
    tabs: [['Organisations', 'visit:org']],
    networks: true,
    empty: 'No visitor from a known organisation in this period (Internet providers, mobile carriers and hosting are left out unless you show all networks).',
  },
  {
    id: 'goals',
    title: 'Goals',
    tabs: [['Goals', 'event:goal', ['visitors', 'events', 'conversion_rate']]],
    empty: 'No conversions in this period, or no goals set up for this site.',
  },
  {
    id: 'events',
    title: 'Custom events',
    // Every event name but the page views and page leaves the snippet sends by itself,
    // whether or not a goal counts it.
    tabs: [['Custom events', 'event:name', ['visitors', 'events']]],
    filters: [['is_not', 'event:name', ['pageview', 'pageleave', 'engagement']]],
    empty: 'No custom events in this period. Send them with candor.track("Signup") or plausible("Signup").',
  },
  {
    id: 'props',
    title: 'Properties',
    props: true,
    tabs: [['Properties', 'event:props:', ['visitors', 'events']]],
    empty: 'No event with this property in this period.',
  },
])

// The Organisations panel leaves out Internet providers, mobile carriers and hosting (the
// network every visitor comes through) unless "Show all networks" is on, as /api/v1/stats/accounts does.
export const NETWORKS_FILTER = ['is_not', 'visit:org_type', ['isp', 'mobile', 'hosting']]

export const ROWS = 10
export const CSV_ROWS = 10000

// Which tab each panel shows is a preference of this browser, not part of a shared view.
const savedTabs = () => recall('tabs', {}) || {}
const saveTab = (panel, dimension) => remember('tabs', { ...savedTabs(), [panel]: dimension })

const breakdown = (state, tab, limit, extra = []) => ({
  site_id: state.site,
  metrics: tab.metrics,
  date_range: dateRange(state),
  dimensions: [tab.dimension],
  filters: [...apiFilters(state.filters), ...extra],
  order_by: [[tab.metrics[0], 'desc']],
  pagination: { limit, offset: 0 },
  include: include(state, { total_rows: true }),
})

// Under a goal filter a traffic breakdown counts conversions, as Plausible's do: the visitors who
// converted and the conversion rate within each row (page views of a goal's event are 0).
const GOAL_TAB_METRICS = ['visitors', 'group_conversion_rate']
const forState = (tab, s, def) =>
  PANELS.includes(def) && statMetrics('overview', s.filters) === GOAL_METRICS && !tab.metrics.includes('events')
    ? { ...tab, metrics: GOAL_TAB_METRICS, labels: { visitors: 'Conversions' } }
    : tab

// One panel. `onFilter(dimension, value)` is called when a row is chosen; `onAuth()` when
// the session has ended; `onDetails(def, tab, filters)` opens every row of the tab.
export const createPanel = (def, { onFilter, onAuth, onDetails }) => {
  const headingId = uid(`${def.id}-h`)
  const bodyId = uid(`${def.id}-body`)
  let tab = def.tabs.find((t) => t.dimension === savedTabs()[def.id]) || def.tabs[0]
  let state = null
  let seq = 0
  let allNetworks = recall('networks', false) === true

  const status = h('p', { class: 'panel-status', role: 'status' })
  const body = h('div', { class: 'panel-body', id: bodyId })
  const csvButton = h('button', { type: 'button', class: 'csv', onclick: () => exportCsv() }, 'CSV')
  const detailsButton = h('button', { type: 'button', class: 'csv details-open', onclick: () => state && propTab() && onDetails?.(def, currentTab(), extraFilters()) }, 'Details')

  // The panel's own filters, on top of the view's.
  // A property's panel leaves out the events that do not have it ("(none)").
  const extraFilters = () => [
    ...(def.filters || []),
    ...(def.networks && !allNetworks ? [NETWORKS_FILTER] : []),
    ...(def.props && propKey() ? [['is_not', `event:props:${propKey()}`, ['(none)']]] : []),
  ]
  const networksId = uid(`${def.id}-networks`)
  const networks = def.networks
    ? h('div', { class: 'panel-option' },
      h('input', { type: 'checkbox', id: networksId, checked: allNetworks, onchange: (e) => {
        allNetworks = e.target.checked
        remember('networks', allNetworks)
        if (state) load(state)
      } }),
      h('label', { for: networksId }, 'Show all networks (Internet providers, mobile carriers, hosting)'))
    : null

  // The properties panel: which key to break down by. The keys sent in the period come from
  // /api/v1/stats/property-keys, as buttons with their visitors; a key can still be typed (and
  // the keys typed on a site are remembered in this browser).
  const keyId = uid(`${def.id}-key`)
  const keyListId = uid(`${def.id}-keys`)
  const keyInput = def.props ? h('input', { type: 'text', id: keyId, list: keyListId, autocomplete: 'off', placeholder: 'e.g. plan' }) : null
  const keyList = def.props ? h('datalist', { id: keyListId }) : null
  const keyForm = def.props
    ? h('form', { class: 'prop-key', onsubmit: (e) => {
      e.preventDefault()
      if (state && keyInput.value.trim()) {
        rememberPropKey(state.site, keyInput.value.trim())
        load(state)
      }
    } },
    h('label', { for: keyId }, 'Property key'), keyInput, keyList, h('button', { type: 'submit' }, 'Show'))
    : null
  const keyButtons = def.props ? h('ul', { class: 'suggestions prop-keys', 'aria-label': 'Keys sent in this period' }) : null
  let keysFor = ''
  // The period's keys; the first (most visitors) is shown when no key is chosen yet.
  const loadKeys = async (s) => {
    const range = dateRange(s)
    const period = Array.isArray(range) ? `period=custom&date=${range.join(',')}` : 'period=all'
    const ask = `site_id=${encodeURIComponent(s.site)}&${period}`
    if (ask === keysFor) return
    keysFor = ask
    let keys = []
    try {
      const data = await api(`/api/v1/stats/property-keys?${ask}`)
      keys = (Array.isArray(data?.keys) ? data.keys : []).filter((k) => k && typeof k.key === 'string')
    } catch {
      keysFor = '' // typing a key still works
    }
    fill(keyList, [...new Set([...keys.map((k) => k.key), ...propKeys(s.site)])].map((k) => h('option', { value: k })))
    fill(keyButtons, keys.slice(0, 20).map((k) => h('li', {}, h('button', {
      type: 'button',
      class: 'suggestion',
      'aria-pressed': String(k.key === propKey()),
      onclick: (e) => {
        keyInput.value = k.key
        rememberPropKey(s.site, k.key)
        for (const b of keyButtons.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === e.currentTarget))
        load(state)
      },
    }, k.key, h('span', { class: 'count' }, ` ${Number(k.visitors) || 0}`)))))
    if (!propKey() && keys.length) keyInput.value = keys[0].key
  }
  const propKey = () => (keyInput ? keyInput.value.trim() : '')
  const propTab = () => !def.props || propKey()
  const currentTab = () => (def.props ? { ...tab, label: `Property ${propKey()}`, dimension: `event:props:${propKey()}` } : tab)

  const tabButtons = def.tabs.map((t) =>
    h('button', {
      type: 'button',
      role: 'tab',
      id: uid(`${def.id}-tab`),
      'aria-controls': bodyId,
      'data-dimension': t.dimension,
      onclick: () => select(t),
      onkeydown: (e) => arrows(e, t),
    }, t.label),
  )
  const tablist = def.tabs.length > 1 ? h('div', { class: 'tabs', role: 'tablist', 'aria-label': `${def.title} views` }, tabButtons) : null
  if (tablist) body.setAttribute('role', 'tabpanel')

  const el = h('section', { class: `panel panel-${def.id}`, 'aria-labelledby': headingId, 'data-panel': def.id },
    h('div', { class: 'panel-head' }, h('h2', { id: headingId }, def.title), h('div', { class: 'panel-actions' }, detailsButton, csvButton)),
    tablist,
    keyForm,
    keyButtons,
    networks,
    body,
    status,
  )

  const syncTabs = () => {
    tabButtons.forEach((b, i) => {
      const on = def.tabs[i] === tab
      b.setAttribute('aria-selected', String(on))
      b.tabIndex = on ? 0 : -1
      if (on) body.setAttribute('aria-labelledby', b.id)
    })
    const name = def.tabs.length > 1 ? `${def.title}: ${tab.label}` : def.title
    csvButton.setAttribute('aria-label', `Download ${name} as CSV`)
    detailsButton.setAttribute('aria-label', `${name}: details, every row`)
  }

  const select = (t) => {
    if (t === tab) return
    tab = t
    saveTab(def.id, t.dimension)
    syncTabs()
    if (state) load(state)
  }

  // The ARIA tabs pattern: arrows, Home and End move between tabs.
  const arrows = (e, t) => {
    const i = def.tabs.indexOf(t)
    const n = def.tabs.length
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: n - 1 }[e.key]
    if (next === undefined) return
    e.preventDefault()
    const j = (next + n) % n
    select(def.tabs[j])
    tabButtons[j].focus()
  }

  const showError = (e) => {
    if (e instanceof ApiError && e.status === 401) onAuth()
    fill(body, h('p', { class: 'error' }, `Could not load ${tab.label.toLowerCase()}: ${e.message}`))
  }

  const load = async (s) => {
    if (def.props && state?.site !== s.site) {
      const keys = propKeys(s.site)
      fill(keyList, keys.map((k) => h('option', { value: k })))
      if (!keys.includes(propKey())) keyInput.value = keys[0] || ''
    }
    state = s
    const mine = ++seq
    if (def.props) {
      await loadKeys(s)
      if (mine !== seq) return
      for (const b of keyButtons.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.firstChild.textContent === propKey()))
    }
    const t = forState(currentTab(), s, def)
    if (!propTab()) {
      fill(body, h('p', { class: 'empty' }, 'No event sent a property in this period. Type a property key your events send (props: { plan: "pro" } has the key plan), then Show.'))
      return
    }
    status.textContent = ''
    body.setAttribute('aria-busy', 'true')
    body.classList.add('loading')
    let data
    try {
      data = await query(breakdown(s, t, ROWS, extraFilters()))
    } catch (e) {
      if (mine === seq) {
        body.removeAttribute('aria-busy')
        body.classList.remove('loading')
        showError(e)
      }
      return
    }
    if (mine !== seq) return
    body.removeAttribute('aria-busy')
    body.classList.remove('loading')
    render(t, data)
  }

  const render = (t, data) => {
    const rows = Array.isArray(data?.results) ? data.results : []
    if (!rows.length) {
      fill(body, h('p', { class: 'empty' }, def.empty || 'No data for this period.'))
      return
    }
    const max = Math.max(1, ...rows.map((r) => Number(r.metrics?.[0]) || 0))
    const label = dimensionLabel(t.dimension)
    const total = Number(data.meta?.total_rows)
    fill(body,
      h('table', { class: 'breakdown' },
        h('caption', { class: 'sr-only' }, `${def.title}: ${t.label}, by ${METRIC_LABELS[t.metrics[0]].toLowerCase()}. Choose a row to filter the dashboard by it.`),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, label),
          t.metrics.map((m) => h('th', { scope: 'col', class: 'num' }, t.labels?.[m] || METRIC_LABELS[m])),
        )),
        h('tbody', {}, rows.map((r) => {
          const value = r.dimensions?.[0] ?? ''
          const shown = displayValue(t.dimension, value)
          const share = Math.max(0, Math.min(100, ((Number(r.metrics?.[0]) || 0) / max) * 100))
          return h('tr', {},
            h('th', { scope: 'row', class: 'name' },
              h('span', { class: 'bar', 'aria-hidden': 'true', style: { width: `${share.toFixed(1)}%` } }),
              h('button', { type: 'button', class: 'row', title: `Filter: ${label} is ${shown}`, 'data-value': value, onclick: () => onFilter(t.dimension, value) }, shown),
            ),
            t.metrics.map((m, i) => h('td', { class: 'num', 'data-metric': m }, metricValue(m, r.metrics?.[i], true))),
          )
        })),
      ),
      total > rows.length ? h('p', { class: 'more' }, `Top ${rows.length} of ${total.toLocaleString('en')}: `,
        h('button', { type: 'button', class: 'link', onclick: () => onDetails?.(def, t, extraFilters()) }, `see all ${total.toLocaleString('en')}`)) : null,
    )
  }

  const exportCsv = async () => {
    if (!state) return
    if (!propTab()) return
    const t = forState(currentTab(), state, def)
    csvButton.disabled = true
    status.textContent = 'Preparing CSV…'
    try {
      const data = await query(breakdown(state, t, CSV_ROWS, extraFilters()))
      const rows = (data?.results || []).map((r) => [r.dimensions?.[0] ?? '', ...t.metrics.map((_, i) => r.metrics?.[i] ?? '')])
      download(csvFileName(t.dimension), toCsv([dimensionLabel(t.dimension), ...t.metrics], rows))
      status.textContent = `Downloaded ${csvFileName(t.dimension)} (${rows.length} ${rows.length === 1 ? 'row' : 'rows'}).`
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) onAuth()
      status.textContent = ''
      status.append(h('span', { class: 'error' }, `CSV export failed: ${e.message}`))
    } finally {
      csvButton.disabled = false
    }
  }

  syncTabs()
  fill(body, h('p', { class: 'empty' }, 'Loading…'))
  return { el, load }
}
