// What the dashboard shows, and its encoding in the URL query string so a view can be
// shared or bookmarked (see README.md):
//
//   ?site=example.com&period=30d&metric=visitors&f=visit:source==Google&f=event:page!=/about
//   ?site=example.com&view=leads&period=7d&metric=lead_conversion_rate
//   ?site=example.com&view=people&lead=<id>
//
// `view` is one of VIEWS (default `overview`, then omitted); `lead` opens one lead's page in
// the People view. `period` is one of PERIODS; `custom` also takes `from` and `to` (YYYY-MM-DD). Each `f` is
// `<dimension><op><value>` with op `==` (is), `!=` (is not) or `~=` (contains); the value is
// everything after the operator. Unknown or malformed parameters are dropped.

export const PERIODS = [
  ['day', 'Today'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
  ['month', 'This month'],
  ['6mo', 'Last 6 months'],
  ['12mo', 'Last 12 months'],
  ['custom', 'Custom range'],
]
export const DEFAULT_PERIOD = '30d'

export const OPS = { '==': 'is', '!=': 'is_not', '~=': 'contains' }
export const OP_WORDS = { '==': 'is', '!=': 'is not', '~=': 'contains' }

// The screens: the traffic overview, the Leads view (aggregates, for every reader of the site)
// and People (named leads, only for a session with leads:read on the site).
export const VIEWS = ['overview', 'leads', 'people']
export const DEFAULT_VIEW = 'overview'

// The top stats of each view, in screen order; each can be charted. A view's default chart
// metric is omitted from the URL.
export const VIEW_METRICS = {
  overview: ['visitors', 'visits', 'pageviews', 'views_per_visit', 'bounce_rate', 'visit_duration'],
  leads: ['visitors', 'leads', 'lead_conversion_rate'],
  people: [],
}
const VIEW_DEFAULT_METRIC = { leads: 'leads' }
export const CHART_METRICS = VIEW_METRICS.overview
export const DEFAULT_METRIC = 'visitors'
export const defaultMetric = (view) => VIEW_DEFAULT_METRIC[view] || DEFAULT_METRIC
export const validMetric = (view, metric) => ((VIEW_METRICS[view] || []).includes(metric) ? metric : defaultMetric(view))

// A lead id as the collector writes them (a UUID, or any other short token): never a path.
const LEAD_ID = /^[A-Za-z0-9_-]{1,64}$/

const DATE = /^\d{4}-\d{2}-\d{2}$/
const FILTER = /^((?:event|visit):[^=!~]+?)(==|!=|~=)([\s\S]*)$/

export const validDate = (s) => typeof s === 'string' && DATE.test(s) && !Number.isNaN(Date.parse(s + 'T00:00:00Z'))

export const parseFilter = (s) => {
  const m = FILTER.exec(s)
  return m ? { dimension: m[1], op: m[2], value: m[3] } : null
}

export const formatFilter = (f) => `${f.dimension}${f.op}${f.value}`

// YYYY-MM-DD of a Date in UTC, and `days` before it.
export const isoDate = (d) => d.toISOString().slice(0, 10)
export const daysBefore = (iso, days) => isoDate(new Date(Date.parse(iso + 'T00:00:00Z') - days * 864e5))

export const readState = (search) => {
  const p = new URLSearchParams(search)
  const period = PERIODS.some(([id]) => id === p.get('period')) ? p.get('period') : DEFAULT_PERIOD
  const lead = LEAD_ID.test(p.get('lead') || '') ? p.get('lead') : null
  const view = lead ? 'people' : VIEWS.includes(p.get('view')) ? p.get('view') : DEFAULT_VIEW
  const state = {
    site: p.get('site') || '',
    view,
    lead,
    period,
    from: null,
    to: null,
    metric: validMetric(view, p.get('metric')),
    filters: p.getAll('f').map(parseFilter).filter(Boolean),
  }
  if (period === 'custom') {
    const today = isoDate(new Date())
    let from = validDate(p.get('from')) ? p.get('from') : null
    let to = validDate(p.get('to')) ? p.get('to') : null
    to ||= today
    from ||= daysBefore(to, 29)
    if (from > to) [from, to] = [to, from]
    Object.assign(state, { from, to })
  }
  return state
}

// Query-string text, readable: `:`, `/`, `=` and `,` stay as they are; everything else
// (including `&`, `#`, `+`, spaces) is percent-encoded.
const enc = (v) => encodeURIComponent(v).replace(/%(3A|2F|3D|2C|40)/gi, (_, x) => String.fromCharCode(parseInt(x, 16)))

export const writeState = (state) => {
  const parts = []
  const view = VIEWS.includes(state.view) ? state.view : DEFAULT_VIEW
  if (state.site) parts.push(['site', state.site])
  if (view !== DEFAULT_VIEW) parts.push(['view', view])
  if (view === 'people' && state.lead) parts.push(['lead', state.lead])
  parts.push(['period', state.period])
  if (state.period === 'custom') parts.push(['from', state.from], ['to', state.to])
  if (state.metric && state.metric !== defaultMetric(view)) parts.push(['metric', state.metric])
  for (const f of state.filters) parts.push(['f', formatFilter(f)])
  return '?' + parts.map(([k, v]) => `${k}=${enc(v)}`).join('&')
}

// Clicking a row: `dimension is value`, replacing an earlier `is` on the same dimension.
export const withFilter = (filters, dimension, value) => [
  ...filters.filter((f) => !(f.dimension === dimension && f.op === '==')),
  { dimension, op: '==', value },
]

// The site's time zone, for the dashboard's own period arithmetic (set when a site is shown).
let siteTimeZone = 'UTC'
export const setTimeZone = (timeZone) => {
  siteTimeZone = timeZone || 'UTC'
}

// Today in the site's time zone, YYYY-MM-DD.
export const todayIn = (timeZone, now = new Date()) => {
  try {
    return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(now)
  } catch {
    return now.toISOString().slice(0, 10)
  }
}

const addDays = (iso, n) => new Date(Date.parse(iso) + n * 864e5).toISOString().slice(0, 10)
const monthsBack = (iso, n) => {
  const d = new Date(`${iso.slice(0, 7)}-01T00:00:00Z`)
  d.setUTCMonth(d.getUTCMonth() - n)
  return d.toISOString().slice(0, 10)
}

// The Stats API's date_range. The API's `7d`, `30d`, `6mo` and `12mo` end before today, as
// Plausible's do; the dashboard's "last 7 days" and "last 6 months" include today, so it sends
// their dates (in the site's time zone).
export const dateRange = (state, now = new Date()) => {
  if (state.period === 'custom') return [state.from, state.to]
  const today = todayIn(siteTimeZone, now)
  const days = /^(\d+)d$/.exec(state.period)
  if (days) return [addDays(today, 1 - Number(days[1])), today]
  const months = /^(\d+)mo$/.exec(state.period)
  if (months) return [monthsBack(today, Number(months[1]) - 1), today]
  return state.period
}

export const interval = (state) => {
  if (state.period === 'day') return 'time:hour'
  if (state.period === '6mo' || state.period === '12mo') return 'time:month'
  if (state.period === 'custom' && state.from !== state.to) {
    // Days up to about a year; longer custom ranges by month, or the chart has no room.
    const days = (Date.parse(state.to) - Date.parse(state.from)) / 864e5 + 1
    return days > 400 ? 'time:month' : 'time:day'
  }
  if (state.period === 'custom') return 'time:hour'
  return 'time:day'
}

export const apiFilters = (filters) => filters.map((f) => [OPS[f.op], f.dimension, [f.value]])
