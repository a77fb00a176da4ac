// Candor's dashboard: checks the session, then shows the sign-in screen or the statistics of
// one site for one period, with filters: the traffic overview, the Leads view, and People for
// a session with leads:read on the site. Everything on screen follows the URL (state.js).

import './app.css'
import { api, ApiError, query } from './api.js'
import { createChart } from './chart.js'
import { h, fill } from './dom.js'
import { bucketSeconds, changeText, dimensionLabel, displayValue, METRIC_LABELS, metricValue } from './format.js'
import { createFunnel, LEAD_PANELS, NO_LEADS, NO_LEADS_FILTERED } from './leads.js'
import { createPanel, PANELS } from './panels.js'
import { createPeople } from './people.js'
import { showSignIn } from './signin.js'
import {
  apiFilters, dateRange, daysBefore, defaultMetric, interval, isoDate, OP_WORDS, PERIODS, readState, setTimeZone, validDate,
  validMetric,
  VIEW_METRICS, withFilter, writeState,
} from './state.js'

const STAT_LABELS = {
  visitors: 'Unique visitors',
  visits: 'Total visits',
  pageviews: 'Pageviews',
  views_per_visit: 'Views per visit',
  bounce_rate: 'Bounce rate',
  visit_duration: 'Visit duration',
  leads: 'Leads',
  lead_conversion_rate: 'Lead conversion',
}
const VIEW_NAMES = { overview: 'Overview', leads: 'Leads', people: 'People' }
const REALTIME_EVERY_MS = 30000

const root = document.getElementById('app')
let state = readState(location.search)
let sites = []
let view = null // the signed-in screen, while it is shown

const sitesOf = (session) =>
  (Array.isArray(session?.sites) ? session.sites : []).filter((s) => s && typeof s.domain === 'string')

const siteOf = (s) => sites.find((x) => x.domain === s.site)
// People (names, emails, companies) only for a token with leads:read on the site.
const mayReadPeople = (s) => siteOf(s)?.leads === true

// A shared link may name a site this sign-in cannot see: fall back to the first one; and a
// People link opened without leads:read for that site shows the overview.
const normalise = (s) => {
  const site = sites.some((x) => x.domain === s.site) ? s.site : sites[0]?.domain || ''
  const people = s.view === 'people' && mayReadPeople({ site })
  const view = people ? 'people' : s.view === 'people' ? 'overview' : s.view
  return { ...s, site, view, lead: people ? s.lead : null, metric: validMetric(view, s.metric) }
}

const filterText = (f) => `${dimensionLabel(f.dimension)} ${OP_WORDS[f.op]} ${displayValue(f.dimension, f.value)}`

const periodText = (s) => (s.period === 'custom' ? `${s.from} to ${s.to}` : PERIODS.find(([id]) => id === s.period)[1])

// --- navigation -------------------------------------------------------------------------

const navigate = (patch, { only } = {}) => {
  state = normalise({ ...state, ...patch })
  history.pushState(null, '', writeState(state))
  if (only === 'chart') {
    syncControls()
    loadChart()
  } else {
    refresh()
  }
}

document.addEventListener('visibilitychange', () => document.hidden || loadRealtime())

addEventListener('popstate', () => {
  if (!view) return
  state = normalise(readState(location.search))
  refresh()
})

// --- signed in ----------------------------------------------------------------------------

const start = async () => {
  let session
  try {
    session = await api('/api/dashboard/session')
  } catch (e) {
    signIn(e.status === 401 ? '' : `Could not check your session: ${e.message}`)
    return
  }
  signedIn(session)
}

const signIn = (notice = '') => {
  teardown()
  showSignIn(root, { site: state.site, notice }, signedIn)
}

const sessionEnded = () => {
  if (view) signIn('Your session has ended. Please sign in again.')
}

const teardown = () => {
  if (!view) return
  clearInterval(view.timer)
  view.chart.destroy()
  view = null
}

const signOut = async () => {
  try {
    await api('/api/dashboard/logout', { method: 'POST' })
  } catch (e) {
    // Already signed out (401) is what we wanted; anything else is worth saying.
    if (e.status !== 401) {
      view?.announce(`Sign-out failed: ${e.message}`)
      return
    }
  }
  signIn('You have signed out.')
}

// Credits the data sources' licences ask for (DB-IP's locations), from the session.
let credits = []

const signedIn = (session) => {
  sites = sitesOf(session)
  credits = (Array.isArray(session?.credits) ? session.credits : [])
    .filter((c) => c && typeof c.text === 'string' && /^https:\/\//.test(c.url || ''))
  teardown()
  if (!sites.length) {
    root.replaceChildren(h('main', { class: 'signin', id: 'main' }, h('h1', {}, 'Candor'),
      h('p', { class: 'error', role: 'alert' }, 'This sign-in gives access to no site.'),
      h('button', { type: 'button', onclick: signOut }, 'Sign out')))
    return
  }
  state = normalise(state)
  history.replaceState(null, '', writeState(state))
  build()
  refresh()
}

const build = () => {
  const siteSelect = h('select', { id: 'site', onchange: (e) => navigate({ site: e.target.value, filters: [], lead: null }) },
    sites.map((s) => h('option', { value: s.domain }, s.domain)))
  const periodSelect = h('select', { id: 'period', onchange: (e) => changePeriod(e.target.value) },
    PERIODS.map(([id, label]) => h('option', { value: id }, label)))
  const fromInput = h('input', { type: 'date', id: 'from', onchange: () => changeDates() })
  const toInput = h('input', { type: 'date', id: 'to', onchange: () => changeDates() })
  const custom = h('div', { class: 'custom-range' },
    h('label', { for: 'from' }, 'From'), fromInput, h('label', { for: 'to' }, 'To'), toInput)

  const live = h('p', { class: 'sr-only', role: 'status' })
  const chips = h('div', { class: 'filters' })
  const realtime = h('p', { class: 'realtime' })
  const statsBox = h('div', { class: 'stats', role: 'group', 'aria-label': 'Totals; choose one to chart it' })
  const statsError = h('div', { class: 'stats-error' })
  const chartTitle = h('figcaption', { id: 'chart-title' })
  const chartBox = h('div', { class: 'chart-box' })
  const chartError = h('div', { class: 'chart-error' })
  const overviewTitle = h('h2', { id: 'overview-h' }, 'Overview')
  const overview = h('section', { class: 'overview', 'aria-labelledby': 'overview-h' },
    h('div', { class: 'overview-head' }, overviewTitle, realtime),
    statsBox,
    statsError,
    h('figure', { class: 'chart', 'aria-labelledby': 'chart-title' }, chartTitle, chartBox, chartError),
  )
  const panels = PANELS.map((def) => createPanel(def, { onFilter: addFilter, onAuth: sessionEnded }))
  const leadPanels = LEAD_PANELS.map((def) => createPanel(def, { onFilter: addFilter, onAuth: sessionEnded }))
  const funnel = createFunnel({ onAuth: sessionEnded })
  const people = createPeople({
    href: (lead) => writeState({ ...state, view: 'people', lead }),
    open: (lead) => navigate({ view: 'people', lead }),
    onAuth: sessionEnded,
  })
  const overviewPanels = h('div', { class: 'panels' }, panels.map((p) => p.el))
  const leadsPanels = h('div', { class: 'lead-panels' }, funnel.el, leadPanels.map((p) => p.el))
  const leadsNotice = h('div', { class: 'leads-notice' })
  const tabs = Object.entries(VIEW_NAMES).map(([id, name]) =>
    h('a', { class: 'view-tab', 'data-view': id, href: '#', onclick: (e) => openView(e, id) }, name))
  const views = h('nav', { class: 'views', 'aria-label': 'Views' }, tabs)
  const periodControl = h('div', { class: 'control' }, h('label', { for: 'period' }, 'Period'), periodSelect)

  root.replaceChildren(
    h('a', { class: 'skip', href: '#main' }, 'Skip to the statistics'),
    h('header', { class: 'topbar' },
      h('h1', {}, 'Candor'),
      h('form', { class: 'controls', onsubmit: (e) => e.preventDefault() },
        h('div', { class: 'control' }, h('label', { for: 'site' }, 'Site'), siteSelect),
        periodControl,
        custom,
      ),
      h('button', { type: 'button', class: 'signout', onclick: signOut }, 'Sign out'),
    ),
    views,
    h('main', { id: 'main', tabindex: '-1' },
      live,
      chips,
      leadsNotice,
      overview,
      overviewPanels,
      leadsPanels,
      people.el,
    ),
    ...(credits.length ? [h('footer', { class: 'credits' },
      credits.map((c) => h('a', { href: c.url, rel: 'noopener' }, c.text)))] : []),
  )

  view = {
    siteSelect, periodSelect, periodControl, fromInput, toInput, custom, live, chips, realtime, statsBox, statsError,
    chartTitle, chartBox, chartError, panels, leadPanels, funnel, people, overviewPanels, leadsPanels, leadsNotice, overview, overviewTitle, tabs,
    chart: createChart(chartBox),
    seq: { stats: 0, chart: 0, realtime: 0 },
    // Polled only while the tab is visible; a tab coming back catches up at once.
    timer: setInterval(() => document.hidden || loadRealtime(), REALTIME_EVERY_MS),
    announce: (text) => (live.textContent = text),
  }
}

// A view tab: a real link (a new tab opens the view), the same page otherwise.
const openView = (e, id) => {
  if (e.button || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
  e.preventDefault()
  if (id === state.view && !state.lead) return
  navigate({ view: id, lead: null, metric: defaultMetric(id) })
}

const changePeriod = (period) => {
  if (period !== 'custom') return navigate({ period, from: null, to: null })
  const to = state.to || isoDate(new Date())
  navigate({ period, to, from: state.from || daysBefore(to, 29) })
}

const changeDates = () => {
  const from = view.fromInput.value
  const to = view.toInput.value
  if (!validDate(from) || !validDate(to)) return
  navigate(from <= to ? { from, to } : { from: to, to: from })
}

const addFilter = (dimension, value) => {
  const filters = withFilter(state.filters, dimension, value)
  if (filters.length === state.filters.length && state.filters.some((f) => f.dimension === dimension && f.op === '==' && f.value === value)) return
  navigate({ filters })
}

// `i` is the filter's index; -1 removes them all.
const removeFilter = (i) => {
  navigate({ filters: i < 0 ? [] : state.filters.filter((_, j) => j !== i) })
  // The chip that had focus is gone: keep keyboard users in the filter list or the page.
  const next = view?.chips.querySelector('button')
  ;(next || document.getElementById('main'))?.focus()
}

const syncControls = () => {
  const v = view
  const site = siteOf(state)
  const people = state.view === 'people'
  v.siteSelect.value = state.site
  v.siteSelect.disabled = sites.length < 2
  v.periodSelect.value = state.period
  // People is a list of the newest leads, not a report: no period, no filters.
  v.periodControl.hidden = people
  v.custom.hidden = people || state.period !== 'custom'
  v.chips.hidden = people
  v.overview.hidden = people
  v.people.el.hidden = !people
  v.overviewPanels.hidden = state.view !== 'overview'
  v.leadsPanels.hidden = state.view !== 'leads'
  v.leadsNotice.hidden = state.view !== 'leads'
  v.overviewTitle.textContent = state.view === 'leads' ? 'Leads' : 'Overview'
  for (const a of v.tabs) {
    const id = a.dataset.view
    a.hidden = id === 'people' && !mayReadPeople(state)
    a.setAttribute('href', writeState({ ...state, view: id, lead: null, metric: defaultMetric(id) }))
    if (id === state.view) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
  v.fromInput.value = state.from || ''
  v.toInput.value = state.to || ''
  document.title = people ? `People · ${state.site} · Candor` : `${state.view === 'leads' ? 'Leads · ' : ''}${state.site} · ${periodText(state)} · Candor`
  fill(v.chips, state.filters.length
    ? h('ul', { class: 'chips', 'aria-label': 'Active filters' },
      state.filters.map((f, i) => h('li', {},
        h('button', { type: 'button', class: 'chip', 'aria-label': `Remove filter: ${filterText(f)}`, onclick: () => removeFilter(i) },
          filterText(f), h('span', { 'aria-hidden': 'true', class: 'x' }, '×')))),
      state.filters.length > 1
        ? h('li', {}, h('button', { type: 'button', class: 'chip clear', onclick: () => removeFilter(-1) }, 'Clear all filters'))
        : null)
    : null)
  for (const b of v.statsBox.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.metric === chartMetric()))
  v.chartTitle.textContent = `${METRIC_LABELS[chartMetric()]}, ${periodText(state).replace(/^[A-Z]/, (c) => c.toLowerCase())}${site && site.timezone && site.timezone !== 'UTC' ? ` (${site.timezone})` : ''}`
}

const chartMetric = () => validMetric(state.view, state.metric)

const refresh = () => {
  if (!view) return
  setTimeZone(siteOf(state)?.timezone)
  syncControls()
  if (state.view === 'people') {
    view.announce(state.lead ? `Showing a lead of ${state.site}.` : `Showing the recent leads of ${state.site}.`)
    view.people.load(state, { timeZone: siteOf(state)?.timezone || 'UTC' })
    return
  }
  view.announce(`Showing ${state.view === 'leads' ? 'leads of ' : ''}${state.site}, ${periodText(state)}${state.filters.length ? `, filtered by ${state.filters.map(filterText).join(' and ')}` : ''}.`)
  loadStats()
  loadChart()
  loadRealtime()
  if (state.view === 'leads') {
    view.funnel.load(state)
    for (const p of view.leadPanels) p.load(state)
  } else {
    for (const p of view.panels) p.load(state)
  }
}

// Runs one request for a part of the screen; only the latest answer for that part is drawn.
const run = async (part, request, draw, fail) => {
  const v = view
  const mine = ++v.seq[part]
  try {
    const data = await request()
    if (view === v && mine === v.seq[part]) draw(data)
  } catch (e) {
    if (view !== v || mine !== v.seq[part]) return
    if (e instanceof ApiError && e.status === 401) return sessionEnded()
    fail(e)
  }
}

const errorBox = (box, text) => fill(box, text ? h('p', { class: 'error' }, text) : null)

const loadStats = () => {
  const metrics = VIEW_METRICS[state.view]
  const leads = metrics.indexOf('leads')
  view.statsBox.setAttribute('aria-busy', 'true')
  // Another view's tiles never stand in for this one's while its totals load.
  const shown = [...view.statsBox.querySelectorAll('.stat')].map((b) => b.dataset.metric)
  if (String(shown) !== String(metrics)) fill(view.statsBox, metrics.map((m) => statButton(m, null, null)))
  return run('stats',
    () => query({
      site_id: state.site,
      metrics,
      date_range: dateRange(state),
      filters: apiFilters(state.filters),
      include: { comparisons: { mode: 'previous_period' } },
    }),
    (data) => {
      view.statsBox.removeAttribute('aria-busy')
      errorBox(view.statsError)
      const row = data?.results?.[0] || { metrics: [] }
      fill(view.statsBox, metrics.map((m, i) => statButton(m, row.metrics?.[i], row.comparison?.change?.[i])))
      const none = leads >= 0 && Number(row.metrics?.[leads]) === 0
      fill(view.leadsNotice, none ? h('p', { class: 'notice', role: 'status' }, state.filters.length ? NO_LEADS_FILTERED : NO_LEADS) : null)
    },
    (e) => {
      view.statsBox.removeAttribute('aria-busy')
      fill(view.leadsNotice)
      fill(view.statsBox, metrics.map((m) => statButton(m, null, null)))
      errorBox(view.statsError, `Could not load the totals: ${e.message}`)
    },
  )
}

const statButton = (metric, value, change) => {
  let changeEl = null
  if (typeof change === 'number' && Number.isFinite(change)) {
    // A lower bounce rate is the good direction.
    const good = metric === 'bounce_rate' ? change < 0 : change > 0
    const dir = change > 0 ? 'up' : change < 0 ? 'down' : 'flat'
    // Rates change by percentage points (the Stats API's change for them), counts by percent.
    const text = changeText(metric, change)
    changeEl = h('span', { class: `change ${dir} ${change === 0 ? '' : good ? 'good' : 'bad'}`, title: `${text.long} from the previous period` },
      h('span', { 'aria-hidden': 'true' }, `${dir === 'up' ? '↑' : dir === 'down' ? '↓' : '='} ${text.short}`),
      h('span', { class: 'sr-only' }, dir === 'flat' ? 'unchanged from the previous period' : `${dir} ${text.long} from the previous period`))
  }
  return h('button', {
    type: 'button',
    class: 'stat',
    'data-metric': metric,
    'aria-pressed': String(metric === chartMetric()),
    onclick: () => metric !== chartMetric() && navigate({ metric }, { only: 'chart' }),
  },
  h('span', { class: 'stat-label' }, STAT_LABELS[metric]),
  h('span', { class: 'stat-value' }, metricValue(metric, value, true)),
  changeEl)
}

const loadChart = () => {
  const metric = chartMetric()
  const dim = interval(state)
  view.chartBox.setAttribute('aria-busy', 'true')
  return run('chart',
    () => query({
      site_id: state.site,
      metrics: [metric],
      date_range: dateRange(state),
      dimensions: [dim],
      filters: apiFilters(state.filters),
      pagination: { limit: 10000, offset: 0 },
      include: { time_labels: true },
    }),
    (data) => {
      view.chartBox.removeAttribute('aria-busy')
      errorBox(view.chartError)
      // Buckets without data are missing from the results: time_labels lists them all.
      const byBucket = new Map()
      for (const r of data?.results || []) byBucket.set(bucketSeconds(String(r.dimensions?.[0])), Number(r.metrics?.[0]) || 0)
      let labels = data?.meta?.time_labels
      if (!Array.isArray(labels)) labels = (data?.results || []).map((r) => String(r.dimensions?.[0])).sort()
      const values = labels.map((l) => byBucket.get(bucketSeconds(l)) ?? 0)
      view.chart.render({ labels, values, metric, interval: dim })
    },
    (e) => {
      view.chartBox.removeAttribute('aria-busy')
      errorBox(view.chartError, `Could not load the chart: ${e.message}`)
    },
  )
}

const loadRealtime = () => {
  if (!view) return
  return run('realtime',
    () => api(`/api/v1/stats/realtime/visitors?site_id=${encodeURIComponent(state.site)}`),
    (n) => {
      const count = Number(n) || 0
      fill(view.realtime, h('span', { class: 'pulse', 'aria-hidden': 'true' }), h('strong', {}, metricValue('visitors', count)),
        count === 1 ? ' current visitor' : ' current visitors')
    },
    () => fill(view.realtime, 'Current visitors unavailable'),
  )
}

start()
