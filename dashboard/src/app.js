// Candor's dashboard: checks the session, then shows the sign-in screen or the statistics of
// one site for one period, with filters: the traffic overview, the Leads view, and People for
// a session with leads:read on the site. Everything on screen follows the URL (state.js).

import './app.css'
import { api, ApiError, query } from './api.js'
import { createChart } from './chart.js'
import { h, fill } from './dom.js'
import { bucketSeconds, change as changeOf, changeText, dimensionLabel, displayValue, METRIC_LABELS, metricValue, rangeText } from './format.js'
import { createFilterBar } from './filters.js'
import { createDetails } from './details.js'
import { recall, remember } from './prefs.js'
import { createFunnel, LEAD_PANELS, NO_LEADS, NO_LEADS_FILTERED } from './leads.js'
import { createPanel, PANELS } from './panels.js'
import { createPeople } from './people.js'
import { createRealtime } from './realtime.js'
import { createSegments, listSegments, segmentNames } from './segments.js'
import { createSettings } from './settings.js'
import { showSignIn } from './signin.js'
import {
  apiFilters, choosePeriod, COMPARE_MODES, comparisonDates, dateRange, daysBefore, defaultMetric, endsToday, GOAL_METRICS, hourIn, include,
  interval, intervals, movePeriod, OP_WORDS, periodChoice, PERIODS, readState, setTimeZone, statMetrics, today, validDate, validMetric,
  withFilter, writeState,
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
  events: 'Total events',
  conversion_rate: 'Conversion rate',
}
// Under a goal filter the tiles count conversions, as Plausible's do.
const GOAL_LABELS = { visitors: 'Unique conversions', events: 'Total conversions', conversion_rate: 'Conversion rate' }
const statLabel = (m) => (statMetrics(state.view, state.filters) === GOAL_METRICS ? GOAL_LABELS[m] : STAT_LABELS[m]) || METRIC_LABELS[m]
const VIEW_NAMES = { overview: 'Overview', leads: 'Leads', people: 'People', settings: 'Settings' }
const REALTIME_EVERY_MS = 30000
const INTERVAL_NAMES = { 'time:hour': 'Hours', 'time:day': 'Days', 'time:week': 'Weeks', 'time:month': 'Months' }
const SITE_KEY = 'site'

const root = document.getElementById('app')
let state = readState(location.search)
let sites = []
let view = null // the signed-in screen, while it is shown

const sitesOf = (session) =>
  (Array.isArray(session?.sites) ? session.sites : []).filter((s) => s && typeof s.domain === 'string')

const siteOf = (s) => sites.find((x) => x.domain === s.site)
// People (names, emails, companies) only for a token with leads:read on the site.
const mayReadPeople = (s) => siteOf(s)?.leads === true
// Settings only for a session opened with an admin token (`admin: true` on the site).
const mayAdminister = (s) => siteOf(s)?.admin === true

// A shared link may name a site this sign-in cannot see: fall back to the first one; and a
// People link opened without leads:read for that site shows the overview.
const normalise = (s) => {
  const known = (d) => sites.some((x) => x.domain === d)
  const site = known(s.site) ? s.site : known(recall(SITE_KEY)) ? recall(SITE_KEY) : sites[0]?.domain || ''
  setTimeZone(sites.find((x) => x.domain === site)?.timezone)
  const people = s.view === 'people' && mayReadPeople({ site })
  const view = people ? 'people' : s.view === 'people' || (s.view === 'settings' && !mayAdminister({ site })) ? 'overview' : s.view
  return { ...s, site, view, lead: people ? s.lead : null, metric: validMetric(view, s.metric, s.filters) }
}

const filterText = (f) => `${dimensionLabel(f.dimension)} ${OP_WORDS[f.op]} ${f.values.map((v) => displayValue(f.dimension, v)).join(' or ')}`

// "Last 7 days", or the dates where the period has been moved back or is custom.
const periodText = (s) => {
  const choice = periodChoice(s)
  const range = dateRange(s)
  if (s.period === 'custom' || (s.date && choice !== 'yesterday' && choice !== 'last_month')) return rangeText(range)
  return PERIODS.find(([id]) => id === choice)[1]
}

// --- navigation -------------------------------------------------------------------------

const navigate = (patch, { only } = {}) => {
  // Other filters than the segment's, or another site: no longer that segment.
  if ((patch.filters || patch.site) && !('segment' in patch)) patch = { ...patch, segment: null }
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
  openLinkedSegment().then(refresh)
})

// A link with `segment=<id>` and no filters of its own: the segment's filters, from the store.
const openLinkedSegment = async () => {
  if (!state.segment || state.filters.length) return
  const s = state
  let seg
  try {
    seg = (await listSegments(s.site)).find((x) => x.id === s.segment)
  } catch {
    seg = null
  }
  if (state !== s) return
  state = normalise({ ...state, segment: seg ? seg.id : null, filters: seg ? seg.filters : [] })
  history.replaceState(null, '', writeState(state))
  if (!seg) view?.announce('That segment no longer exists.')
}

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
  // Read the URL again once the site (and so its time zone) is known: "yesterday" is the
  // site's yesterday.
  state = normalise(state)
  state = normalise(readState(location.search))
  history.replaceState(null, '', writeState(state))
  build()
  openLinkedSegment().then(refresh)
}

// After a site was added or its time zone changed: the session's list again.
const reloadSites = async () => {
  const session = await api('/api/dashboard/session')
  sites = sitesOf(session)
  fill(view.siteSelect, sites.map((s) => h('option', { value: s.domain }, s.domain)))
  state = normalise(state)
  syncControls()
}

const build = () => {
  const siteSelect = h('select', { id: 'site', onchange: (e) => navigate({ site: e.target.value, filters: [], lead: null }) },
    sites.map((s) => h('option', { value: s.domain }, s.domain)))
  const periodSelect = h('select', { id: 'period', 'aria-describedby': 'period-keys', onchange: (e) => changePeriod(e.target.value) },
    PERIODS.map(([id, label, key]) => h('option', { value: id }, key ? `${label} (${key.toUpperCase()})` : label)))
  const prevButton = h('button', { type: 'button', class: 'move', 'aria-label': 'Previous period (←)', title: 'Previous period (←)', onclick: () => move(-1) }, '‹')
  const nextButton = h('button', { type: 'button', class: 'move', 'aria-label': 'Next period (→)', title: 'Next period (→)', onclick: () => move(1) }, '›')
  const fromInput = h('input', { type: 'date', id: 'from', onchange: () => changeDates('from') })
  const toInput = h('input', { type: 'date', id: 'to', onchange: () => changeDates('to') })
  const custom = h('div', { class: 'custom-range' },
    h('label', { for: 'from' }, 'From'), fromInput, h('label', { for: 'to' }, 'To'), toInput)
  const intervalSelect = h('select', { id: 'interval', onchange: (e) => navigate({ interval: e.target.value }, { only: 'chart' }) })
  const intervalControl = h('div', { class: 'control' }, h('label', { for: 'interval' }, 'Interval'), intervalSelect)
  const compareSelect = h('select', { id: 'compare', onchange: (e) => changeCompare(e.target.value) },
    COMPARE_MODES.map(([id, label]) => h('option', { value: id }, label)))
  const compareFrom = h('input', { type: 'date', id: 'compare-from', onchange: () => changeCompareDates() })
  const compareTo = h('input', { type: 'date', id: 'compare-to', onchange: () => changeCompareDates() })
  const compareDates = h('div', { class: 'control compare-range' },
    h('label', { for: 'compare-from' }, 'Compare from'), compareFrom, h('label', { for: 'compare-to' }, 'to'), compareTo)
  const matchBox = h('input', { type: 'checkbox', id: 'match-day', onchange: (e) => navigate({ match: e.target.checked }) })
  const matchControl = h('div', { class: 'control check' }, matchBox, h('label', { for: 'match-day' }, 'Match day of week'))
  const compareControl = h('div', { class: 'compare-controls' },
    h('div', { class: 'control' }, h('label', { for: 'compare' }, 'Compare (X)'), compareSelect), compareDates, matchControl)
  const importsBox = h('input', { type: 'checkbox', id: 'imports', onchange: (e) => navigate({ imports: e.target.checked }) })
  const importsControl = h('div', { class: 'control check' }, importsBox, h('label', { for: 'imports' }, 'Imported data'))

  const live = h('p', { class: 'sr-only', role: 'status' })
  const details = createDetails({ onFilter: (d, v) => addFilter(d, v), onAuth: sessionEnded })
  const filterBar = createFilterBar({
    apply: (filters) => navigate({ filters }),
    context: () => state,
    onAuth: sessionEnded,
  })
  const segments = createSegments({
    open: (seg) => navigate({ filters: seg.filters, segment: seg.id }),
    close: () => navigate({ segment: null }),
    context: () => state,
    describe: filterText,
    onAuth: sessionEnded,
  })
  filterBar.el.append(segments.button)
  const settings = createSettings({ onAuth: sessionEnded, onSites: reloadSites })
  const realtimeView = createRealtime({ onFilter: (d, v) => addFilter(d, v), onAuth: sessionEnded })
  const realtime = h('a', { class: 'realtime', href: '#', onclick: (e) => openView(e, 'realtime') })
  const statsBox = h('div', { class: 'stats', role: 'group', 'aria-label': 'Totals; choose one to chart it' })
  const statsError = h('div', { class: 'stats-error' })
  const importsNotice = h('div', { class: 'imports-notice' })
  const firstRun = h('div', { class: 'first-run' })
  const chartTitle = h('figcaption', { id: 'chart-title' })
  const chartBox = h('div', { class: 'chart-box' })
  const chartError = h('div', { class: 'chart-error' })
  const overviewTitle = h('h2', { id: 'overview-h' }, 'Overview')
  const overview = h('section', { class: 'overview', 'aria-labelledby': 'overview-h' },
    h('div', { class: 'overview-head' }, overviewTitle, realtime),
    statsBox,
    statsError,
    firstRun,
    importsNotice,
    h('figure', { class: 'chart', 'aria-labelledby': 'chart-title' },
      h('div', { class: 'chart-head' }, chartTitle, h('div', { class: 'chart-controls' }, compareControl, intervalControl)), chartBox, chartError),
  )
  const panelHooks = { onFilter: addFilter, onAuth: sessionEnded, onDetails: (def, tab, extra) => details.open(def, tab, state, extra) }
  const panels = PANELS.map((def) => createPanel(def, panelHooks))
  const leadPanels = LEAD_PANELS.map((def) => createPanel(def, panelHooks))
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
  const keys = PERIODS.filter(([, , k]) => k).map(([, label, k]) => `${k.toUpperCase()} ${label.toLowerCase()}`).join(', ')
  const periodControl = h('div', { class: 'control period' }, h('label', { for: 'period' }, 'Period'), prevButton, periodSelect, nextButton,
    h('span', { id: 'period-keys', class: 'sr-only' }, `Keyboard shortcuts: ${keys}; left and right arrows move the period.`))

  root.replaceChildren(
    h('a', { class: 'skip', href: '#main' }, 'Skip to the statistics'),
    h('header', { class: 'topbar' },
      h('h1', {}, 'Candor'),
      h('form', { class: 'controls', onsubmit: (e) => e.preventDefault() },
        h('div', { class: 'control' }, h('label', { for: 'site' }, 'Site'), siteSelect),
        periodControl,
        custom,
        importsControl,
      ),
      h('button', { type: 'button', class: 'signout', onclick: signOut }, 'Sign out'),
    ),
    views,
    h('main', { id: 'main', tabindex: '-1' },
      live,
      filterBar.el,
      leadsNotice,
      overview,
      overviewPanels,
      leadsPanels,
      people.el,
      realtimeView.el,
      settings.el,
    ),
    details.el,
    filterBar.dialog,
    segments.dialog,
    ...(credits.length ? [h('footer', { class: 'credits' },
      credits.map((c) => h('a', { href: c.url, rel: 'noopener' }, c.text)))] : []),
  )

  view = {
    siteSelect, periodSelect, periodControl, prevButton, nextButton, fromInput, toInput, custom, intervalSelect, intervalControl,
    importsBox, importsControl, importsNotice, firstRun, compareSelect, compareFrom, compareTo, compareDates, matchBox, matchControl, compareControl,
    segments, settings, realtimeView, live, filterBar, details, realtime, statsBox, statsError,
    chartTitle, chartBox, chartError, panels, leadPanels, funnel, people, overviewPanels, leadsPanels, leadsNotice, overview, overviewTitle, tabs,
    chart: createChart(chartBox),
    seq: { stats: 0, chart: 0, realtime: 0 },
    // Polled only while the tab is visible; a tab coming back catches up at once.
    timer: setInterval(() => document.hidden || loadRealtime(), REALTIME_EVERY_MS),
    announce: (text) => (live.textContent = text),
  }
}

// Plausible's keyboard shortcuts: a letter per period, C for a custom range, ← and → to move
// the period. Never while typing, with a modifier held, or over a dialog.
document.addEventListener('keydown', (e) => {
  if (!view || state.view === 'people' || e.metaKey || e.ctrlKey || e.altKey || e.isComposing) return
  const t = e.target
  if (t instanceof Element && (t.closest('input, select, textarea, [contenteditable], dialog[open]') || document.querySelector('dialog[open]'))) return
  if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
    if (t instanceof Element && t.closest('[role="tab"], [role="tablist"]')) return
    e.preventDefault()
    move(e.key === 'ArrowLeft' ? -1 : 1)
    return
  }
  if (e.key.toLowerCase() === 'x' && !e.shiftKey) {
    e.preventDefault()
    changeCompare(state.compare === 'off' ? lastCompare : 'off')
    return
  }
  if (e.key.toLowerCase() === 'r' && !e.shiftKey) {
    e.preventDefault()
    if (state.view !== 'realtime') navigate({ view: 'realtime', lead: null })
    return
  }
  const entry = PERIODS.find(([, , k]) => k && k === e.key.toLowerCase())
  if (!entry || e.shiftKey) return
  e.preventDefault()
  changePeriod(entry[0])
  if (entry[0] === 'custom') view.fromInput.focus()
})

// The comparison mode X turns back on.
let lastCompare = 'previous'
const changeCompare = (mode) => {
  if (mode !== 'off') lastCompare = mode
  if (mode !== 'custom') return navigate({ compare: mode })
  // A custom comparison starts as the period before.
  const before = comparisonDates({ ...state, compare: 'previous', match: false }) || [daysBefore(today(), 59), daysBefore(today(), 30)]
  navigate({ compare: 'custom', compareFrom: state.compareFrom || before[0], compareTo: state.compareTo || before[1] })
}
const changeCompareDates = () => {
  let from = view.compareFrom.value
  let to = view.compareTo.value
  if (!validDate(from) || !validDate(to)) return
  if (from > to) [from, to] = [to, from]
  navigate({ compareFrom: from, compareTo: to })
}

const move = (step) => {
  const patch = movePeriod(state, step)
  if (patch) navigate(patch)
}

// A view tab: a real link (a new tab opens the view), the same page otherwise.
const openView = (e, id) => {
  if (e.button || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
  e.preventDefault()
  if (id === state.view && !state.lead) return
  navigate({ view: id, lead: null, metric: defaultMetric(id) })
}

const changePeriod = (id) => {
  if (id !== 'custom') return navigate({ ...choosePeriod(id), interval: null })
  // A custom range starts as the range on screen.
  const [from, to] = Array.isArray(dateRange(state)) ? dateRange(state) : [daysBefore(today(), 29), today()]
  navigate({ period: 'custom', date: null, from, to, interval: null })
}

// Editing one end of a custom range keeps the other, unless it would end before it starts:
// then both ends move to the date just chosen.
const changeDates = (which) => {
  let from = view.fromInput.value
  let to = view.toInput.value
  if (!validDate(from) || !validDate(to)) return
  if (from > to) {
    if (which === 'from') to = from
    else from = to
  }
  navigate({ from, to })
}

const addFilter = (dimension, value) => {
  const filters = withFilter(state.filters, dimension, value)
  if (state.filters.some((f) => f.dimension === dimension && f.op === '==' && f.values.length === 1 && f.values[0] === value)) return
  navigate({ filters })
}

const syncControls = () => {
  const v = view
  const site = siteOf(state)
  const people = state.view === 'people'
  remember(SITE_KEY, state.site)
  v.siteSelect.value = state.site
  v.siteSelect.disabled = sites.length < 2
  v.periodSelect.value = periodChoice(state)
  v.prevButton.disabled = !movePeriod(state, -1)
  v.nextButton.disabled = !movePeriod(state, 1)
  // People is a list of the newest leads, not a report: no period, no filters; Settings is
  // neither; Realtime is always the last 30 minutes.
  const aside = people || state.view === 'settings'
  const noPeriod = aside || state.view === 'realtime'
  v.periodControl.hidden = noPeriod
  v.custom.hidden = noPeriod || state.period !== 'custom'
  v.importsControl.hidden = noPeriod
  v.importsBox.checked = state.imports
  v.compareSelect.value = state.compare
  if (state.compare !== 'off') lastCompare = state.compare
  v.compareDates.hidden = state.compare !== 'custom'
  v.compareFrom.value = state.compareFrom || ''
  v.compareTo.value = state.compareTo || ''
  v.compareFrom.max = today()
  v.compareTo.max = today()
  v.matchBox.checked = state.match
  v.matchControl.hidden = state.compare === 'off'
  v.compareControl.hidden = state.period === 'all'
  v.filterBar.el.hidden = aside
  v.segments.button.hidden = state.view === 'realtime'
  const open = state.segment && segmentNames.get(state.segment)
  v.segments.button.textContent = open ? `Segment: ${open}` : 'Segments'
  v.overview.hidden = noPeriod
  v.realtimeView.el.hidden = state.view !== 'realtime'
  v.settings.el.hidden = state.view !== 'settings'
  v.people.el.hidden = !people
  v.overviewPanels.hidden = state.view !== 'overview'
  v.leadsPanels.hidden = state.view !== 'leads'
  v.leadsNotice.hidden = state.view !== 'leads'
  v.overviewTitle.textContent = state.view === 'leads' ? 'Leads' : 'Overview'
  for (const a of v.tabs) {
    const id = a.dataset.view
    a.hidden = (id === 'people' && !mayReadPeople(state)) || (id === 'settings' && !mayAdminister(state))
    a.setAttribute('href', writeState({ ...state, view: id, lead: null, metric: defaultMetric(id) }))
    if (id === state.view) a.setAttribute('aria-current', 'page')
    else a.removeAttribute('aria-current')
  }
  v.fromInput.value = state.from || ''
  v.toInput.value = state.to || ''
  v.fromInput.max = today()
  v.toInput.max = today()
  const choices = intervals(state)
  fill(v.intervalSelect, choices.map((i) => h('option', { value: i }, INTERVAL_NAMES[i])))
  v.intervalSelect.value = interval(state)
  v.intervalControl.hidden = choices.length < 2
  document.title = people || state.view === 'settings' || state.view === 'realtime' ? `${VIEW_NAMES[state.view] || 'Realtime'} · ${state.site} · Candor` : `${state.view === 'leads' ? 'Leads · ' : ''}${state.site} · ${periodText(state)} · Candor`
  v.filterBar.render(state.filters, filterText)
  for (const b of v.statsBox.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.metric === chartMetric()))
  v.chartTitle.textContent = `${statLabel(chartMetric())}, ${periodText(state).replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase())}${site && site.timezone && site.timezone !== 'UTC' ? ` (${site.timezone})` : ''}`
}

const chartMetric = () => validMetric(state.view, state.metric, state.filters)

const refresh = () => {
  if (!view) return
  setTimeZone(siteOf(state)?.timezone)
  syncControls()
  if (state.view === 'people') {
    view.announce(state.lead ? `Showing a lead of ${state.site}.` : `Showing the recent leads of ${state.site}.`)
    view.people.load(state, { timeZone: siteOf(state)?.timezone || 'UTC' })
    return
  }
  if (state.view === 'settings') {
    view.announce(`Showing the settings of ${state.site}.`)
    view.settings.load(state, siteOf(state))
    return
  }
  if (state.view === 'realtime') {
    view.announce(`Showing the last 30 minutes of ${state.site}.`)
    loadRealtime()
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

// Imported data asked for but not counted (or counted with a caveat): say so next to the totals.
const importsMessage = (meta) => {
  if (!state.imports || !meta) return null
  if (meta.imports_skip_reason) return `Imported data is not included: ${String(meta.imports_skip_reason).replace(/_/g, ' ')}.`
  if (meta.imports_warning) return `Imported data: ${meta.imports_warning}`
  return null
}

const loadStats = () => {
  const metrics = statMetrics(state.view, state.filters)
  const leads = metrics.indexOf('leads')
  const visitors = metrics.indexOf('visitors')
  view.statsBox.setAttribute('aria-busy', 'true')
  // Another view's tiles never stand in for this one's while its totals load.
  const shown = [...view.statsBox.querySelectorAll('.stat')].map((b) => b.dataset.metric)
  if (String(shown) !== String(metrics)) fill(view.statsBox, metrics.map((m) => statButton(m, null, null)))
  const base = { site_id: state.site, metrics, filters: apiFilters(state.filters), include: include(state) }
  // The other period is asked for with its own dates (month to date against the same days
  // of the month before), so the tiles and the chart's second line compare the same days.
  const before = comparisonDates(state)
  return run('stats',
    () => Promise.all([
      query({ ...base, date_range: dateRange(state) }),
      before ? query({ ...base, date_range: before }).catch(() => null) : null,
    ]),
    ([data, prev]) => {
      view.statsBox.removeAttribute('aria-busy')
      errorBox(view.statsError)
      const row = data?.results?.[0] || { metrics: [] }
      const old = prev?.results?.[0]?.metrics || null
      const since = before ? rangeText(before) : ''
      fill(view.statsBox, metrics.map((m, i) => statButton(m, row.metrics?.[i],
        old ? changeOf(m, row.metrics?.[i], old[i], old[visitors]) : null, before ? since : null)))
      const note = importsMessage(data?.meta)
      fill(view.importsNotice, note ? h('p', { class: 'notice', role: 'status' }, note) : null)
      showFirstRun(Number(row.metrics?.[visitors]) === 0)
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

// A site that has never seen a visitor shows how to start: its script tag, and that the
// dashboard is waiting (the realtime poll redraws everything when the first visitor comes).
const showFirstRun = async (empty) => {
  const v = view
  const s = state
  if (!empty || s.filters.length) {
    v.waiting = false
    return fill(v.firstRun)
  }
  let ever = 1
  try {
    const all = await query({ site_id: s.site, metrics: ['visitors'], date_range: 'all' })
    ever = Number(all?.results?.[0]?.metrics?.[0]) || 0
  } catch {
    // Unknown: say nothing rather than something wrong.
  }
  if (view !== v || state !== s) return
  v.waiting = ever === 0
  const src = new URL('../js/candor.js', location.href).href
  fill(v.firstRun, v.waiting
    ? h('div', { class: 'notice', role: 'status' },
      h('p', {}, h('strong', {}, `Waiting for the first page view on ${s.site}.`), ' Add this tag to every page of the site, in the ',
        h('code', {}, '<head>'), ':'),
      h('pre', {}, h('code', {}, `<script defer src="${src}" data-site="${s.site}"></script>`)),
      h('p', {}, 'This page updates by itself when the first visitor arrives.'))
    : null)
}

// A top stat. `change` is null where there is nothing to compare with: "—", never "↑ 100%".
const statButton = (metric, value, change, since = null) => {
  let changeEl = null
  if (typeof change === 'number' && Number.isFinite(change)) {
    // A lower bounce rate is the good direction.
    const good = metric === 'bounce_rate' ? change < 0 : change > 0
    const dir = change > 0 ? 'up' : change < 0 ? 'down' : 'flat'
    // Rates change by percentage points, counts by percent.
    const text = changeText(metric, change)
    changeEl = h('span', { class: `change ${dir} ${change === 0 ? '' : good ? 'good' : 'bad'}`, title: `${text.long} from ${since}` },
      h('span', { 'aria-hidden': 'true' }, `${dir === 'up' ? '↑' : dir === 'down' ? '↓' : '='} ${text.short}`),
      h('span', { class: 'sr-only' }, dir === 'flat' ? `unchanged from ${since}` : `${dir} ${text.long} from ${since}`))
  } else if (since && value != null) {
    changeEl = h('span', { class: 'change none', title: `Nothing to compare with in ${since}` },
      h('span', { 'aria-hidden': 'true' }, '—'),
      h('span', { class: 'sr-only' }, `nothing to compare with in ${since}`))
  }
  return h('button', {
    type: 'button',
    class: 'stat',
    'data-metric': metric,
    'aria-pressed': String(metric === chartMetric()),
    onclick: () => metric !== chartMetric() && navigate({ metric }, { only: 'chart' }),
  },
  h('span', { class: 'stat-label' }, statLabel(metric)),
  h('span', { class: 'stat-value' }, metricValue(metric, value, true)),
  changeEl)
}

// One time series: the buckets from time_labels (gaps are 0), never past the current bucket.
const series = (data, dim, last) => {
  const byBucket = new Map()
  for (const r of data?.results || []) byBucket.set(bucketSeconds(String(r.dimensions?.[0])), Number(r.metrics?.[0]) || 0)
  let labels = data?.meta?.time_labels
  if (!Array.isArray(labels)) labels = (data?.results || []).map((r) => String(r.dimensions?.[0])).sort()
  labels = labels.map(String)
  if (last) labels = labels.filter((l) => bucketSeconds(l) <= bucketSeconds(last))
  return { labels, values: labels.map((l) => byBucket.get(bucketSeconds(l)) ?? 0) }
}

const loadChart = () => {
  const metric = chartMetric()
  const dim = interval(state)
  const ongoing = endsToday(state)
  const before = comparisonDates(state)
  const tz = siteOf(state)?.timezone || 'UTC'
  const base = {
    site_id: state.site,
    metrics: [metric],
    dimensions: [dim],
    filters: apiFilters(state.filters),
    pagination: { limit: 10000, offset: 0 },
    include: include(state, { time_labels: true }),
  }
  view.chartBox.setAttribute('aria-busy', 'true')
  return run('chart',
    // The Stats API has no comparisons for time series: the previous period is a second query.
    () => Promise.all([
      query({ ...base, date_range: dateRange(state) }),
      before ? query({ ...base, date_range: before }).catch(() => null) : null,
    ]),
    ([data, prev]) => {
      view.chartBox.removeAttribute('aria-busy')
      errorBox(view.chartError)
      // A period that ends today stops at the current hour (or day): the rest has not happened.
      const now = ongoing ? (dim === 'time:hour' ? hourIn(tz) : today()) : null
      const { labels, values } = series(data, dim, now)
      const name = { yoy: 'A year before', custom: 'Compared with' }[state.compare] || 'Previous'
      const previous = prev ? { ...series(prev, dim, null), text: rangeText(before), name } : null
      view.chart.render({ labels, values, metric, interval: dim, partial: ongoing, previous, label: statLabel(metric) })
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
      if (count > 0 && view.waiting) {
        view.waiting = false
        refresh()
      }
      fill(view.realtime, h('span', { class: 'pulse', 'aria-hidden': 'true' }), h('strong', {}, metricValue('visitors', count)),
        count === 1 ? ' current visitor' : ' current visitors')
      view.realtime.setAttribute('href', writeState({ ...state, view: 'realtime', lead: null }))
      view.realtime.title = 'Realtime: the last 30 minutes (R)'
      if (state.view === 'realtime') view.realtimeView.load(state, count)
    },
    () => fill(view.realtime, 'Current visitors unavailable'),
  )
}

start()
