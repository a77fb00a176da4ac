// What the dashboard shows, and its encoding in the URL query string so a view can be
// shared or bookmarked (see README.md):
//
//   ?site=example.com&period=30d&metric=visitors&f=visit:source==Google&or=Bing&f=event:page!=/about
//   ?site=example.com&period=month&date=2026-10-31&interval=time:week&imports=1
//   ?site=example.com&view=leads&period=7d&metric=lead_conversion_rate
//   ?site=example.com&view=people&lead=<id>
//
// `view` is one of VIEWS (default `overview`, then omitted); `lead` opens one lead's page in
// the People view. `period` is one of PERIODS; `custom` also takes `from` and `to` (YYYY-MM-DD);
// the others end on `date` (default today, then omitted). Each `f` is
// `<dimension><op><value>` with an op of OPS; the value is everything after the operator; each
// `or` right after an `f` adds one more value to it. Unknown or malformed parameters are dropped.

// [id, label, Plausible's keyboard shortcut]. `yesterday` and `last_month` are not periods of
// their own: they are `day` and `month` ending on an earlier date (as in Plausible).
export const PERIODS = [
  ['day', 'Today', 'd'],
  ['yesterday', 'Yesterday', 'e'],
  ['7d', 'Last 7 days', 'w'],
  ['28d', 'Last 28 days', 'f'],
  ['30d', 'Last 30 days', 't'],
  ['91d', 'Last 91 days', 'n'],
  ['month', 'Month to date', 'm'],
  ['last_month', 'Last month', 'p'],
  ['year', 'Year to date', 'y'],
  ['6mo', 'Last 6 months', null],
  ['12mo', 'Last 12 months', 'l'],
  ['all', 'All time', 'a'],
  ['custom', 'Custom range', 'c'],
]
const STORED_PERIODS = PERIODS.map(([id]) => id).filter((id) => id !== 'yesterday' && id !== 'last_month')
export const DEFAULT_PERIOD = '30d'

// URL spelling → Stats API operator. `!=` is checked before `!~`, so an old `f=x!=~y` still
// reads as "is not ~y".
export const OPS = { '==': 'is', '!=': 'is_not', '~=': 'contains', '!~': 'contains_not' }
export const OP_WORDS = { '==': 'is', '!=': 'is not', '~=': 'contains', '!~': 'does not contain' }

// The screens: the traffic overview, the Leads view (aggregates, for every reader of the site)
// and People (named leads, only for a session with leads:read on the site).
export const VIEWS = ['overview', 'leads', 'people', 'realtime', 'settings']
export const DEFAULT_VIEW = 'overview'

// The top stats of each view, in screen order; each can be charted. A view's default chart
// metric is omitted from the URL.
export const VIEW_METRICS = {
  overview: ['visitors', 'visits', 'pageviews', 'views_per_visit', 'bounce_rate', 'visit_duration'],
  leads: ['visitors', 'leads', 'lead_conversion_rate'],
  people: [],
  realtime: [],
  settings: [],
}

// Plausible's tiles under a goal filter: unique conversions, total conversions and the
// conversion rate; under an event-name or property filter (no goal), visitors and events:
// page views and views per visit say nothing about a custom event.
export const GOAL_METRICS = ['visitors', 'events', 'conversion_rate']
export const EVENT_METRICS = ['visitors', 'events']
const isEventFilter = (f) => f.dimension.startsWith('event:props:') ||
  (f.dimension === 'event:name' && !(f.op === '==' && f.values.every((v) => v === 'pageview')))
export const statMetrics = (view, filters = []) => {
  if (view !== 'overview') return VIEW_METRICS[view] || []
  const positive = filters.filter((f) => f.op === '==' || f.op === '~=')
  if (positive.some((f) => f.dimension === 'event:goal')) return GOAL_METRICS
  if (positive.some(isEventFilter)) return EVENT_METRICS
  return VIEW_METRICS.overview
}
const VIEW_DEFAULT_METRIC = { leads: 'leads' }
export const CHART_METRICS = VIEW_METRICS.overview
export const DEFAULT_METRIC = 'visitors'
export const defaultMetric = (view) => VIEW_DEFAULT_METRIC[view] || DEFAULT_METRIC
export const validMetric = (view, metric, filters = []) => (statMetrics(view, filters).includes(metric) ? metric : defaultMetric(view))

// Comparison modes (URL `compare`): off, the period before (default, omitted), the same dates a
// year before, or a custom range (`compare_from`, `compare_to`); `match=1` moves the other range
// to start on the same weekday.
export const COMPARE_MODES = [['off', 'Off'], ['previous', 'Previous period'], ['yoy', 'Year over year'], ['custom', 'Custom range']]
const COMPARE_URL = { off: '0', yoy: 'yoy', custom: 'custom' }

export const INTERVALS = ['time:hour', 'time:day', 'time:week', 'time:month']

// A lead id as the collector writes them (a UUID, or any other short token): never a path.
const LEAD_ID = /^[A-Za-z0-9_-]{1,64}$/
const SEGMENT_ID = LEAD_ID

const DATE = /^\d{4}-\d{2}-\d{2}$/
const FILTER = /^((?:event|visit):[^=!~]+?)(==|!=|~=|!~)([\s\S]*)$/

export const validDate = (s) => typeof s === 'string' && DATE.test(s) && !Number.isNaN(Date.parse(s + 'T00:00:00Z'))

export const parseFilter = (s) => {
  const m = FILTER.exec(s)
  return m ? { dimension: m[1], op: m[2], values: [m[3]] } : null
}

export const formatFilter = (f) => `${f.dimension}${f.op}${f.values[0]}`

// YYYY-MM-DD of a Date in UTC, and `days` before it.
export const isoDate = (d) => d.toISOString().slice(0, 10)
export const daysBefore = (iso, days) => isoDate(new Date(Date.parse(iso + 'T00:00:00Z') - days * 864e5))
export const addDays = (iso, n) => daysBefore(iso, -n)
const monthStart = (iso) => `${iso.slice(0, 7)}-01`
const monthsAhead = (iso, n) => {
  const d = new Date(`${monthStart(iso)}T00:00:00Z`)
  d.setUTCMonth(d.getUTCMonth() + n)
  return isoDate(d)
}
const monthEnd = (iso) => addDays(monthsAhead(iso, 1), -1)
export const daysIn = ([from, to]) => Math.round((Date.parse(to) - Date.parse(from)) / 864e5) + 1

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

// The current hour's bucket label in the site's time zone, as the engine writes it
// ("2026-12-06 14:00:00"): hourly charts end there.
export const hourIn = (timeZone, now = new Date()) => {
  let parts
  try {
    parts = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', hourCycle: 'h23' }).formatToParts(now)
  } catch {
    return `${now.toISOString().slice(0, 13).replace('T', ' ')}:00:00`
  }
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]))
  return `${p.year}-${p.month}-${p.day} ${p.hour === '24' ? '00' : p.hour}:00:00`
}
export const today = (now) => todayIn(siteTimeZone, now)

export const readState = (search, now = new Date()) => {
  const p = new URLSearchParams(search)
  let period = PERIODS.some(([id]) => id === p.get('period')) ? p.get('period') : DEFAULT_PERIOD
  const lead = LEAD_ID.test(p.get('lead') || '') ? p.get('lead') : null
  const view = lead ? 'people' : VIEWS.includes(p.get('view')) ? p.get('view') : DEFAULT_VIEW
  const filters = []
  let last = null
  for (const [k, v] of p) {
    if (k === 'f') {
      last = parseFilter(v)
      if (last) filters.push(last)
    } else if (k === 'or' && last) {
      last.values.push(v)
    }
  }
  let date = validDate(p.get('date')) ? p.get('date') : null
  if (period === 'yesterday') [period, date] = ['day', daysBefore(today(now), 1)]
  if (period === 'last_month') [period, date] = ['month', addDays(monthStart(today(now)), -1)]
  if (date && date >= today(now)) date = null
  const state = {
    site: p.get('site') || '',
    view,
    lead,
    period,
    date: period === 'custom' || period === 'all' ? null : date,
    from: null,
    to: null,
    metric: p.get('metric'),
    interval: INTERVALS.includes(p.get('interval')) ? p.get('interval') : null,
    imports: p.get('imports') === '1',
    compare: Object.entries(COMPARE_URL).find(([, v]) => v === p.get('compare'))?.[0] || 'previous',
    compareFrom: null,
    compareTo: null,
    match: p.get('match') === '1',
    segment: SEGMENT_ID.test(p.get('segment') || '') ? p.get('segment') : null,
    filters,
  }
  state.metric = validMetric(view, state.metric, filters)
  if (state.compare === 'custom') {
    const [a, b] = [p.get('compare_from'), p.get('compare_to')]
    if (validDate(a) && validDate(b)) [state.compareFrom, state.compareTo] = a <= b ? [a, b] : [b, a]
    else state.compare = 'previous'
  }
  if (period === 'custom') {
    let from = validDate(p.get('from')) ? p.get('from') : null
    let to = validDate(p.get('to')) ? p.get('to') : null
    to ||= isoDate(now)
    from ||= daysBefore(to, 29)
    if (from > to) [from, to] = [to, from]
    Object.assign(state, { from, to })
  }
  if (state.interval && !intervals(state).includes(state.interval)) state.interval = null
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
  else if (state.date) parts.push(['date', state.date])
  if (state.metric && state.metric !== defaultMetric(view)) parts.push(['metric', state.metric])
  if (state.interval && state.interval !== defaultInterval(state)) parts.push(['interval', state.interval])
  if (state.imports) parts.push(['imports', '1'])
  if (COMPARE_URL[state.compare]) parts.push(['compare', COMPARE_URL[state.compare]])
  if (state.compare === 'custom') parts.push(['compare_from', state.compareFrom], ['compare_to', state.compareTo])
  if (state.match && state.compare !== 'off') parts.push(['match', '1'])
  if (state.segment) parts.push(['segment', state.segment])
  for (const f of state.filters) {
    parts.push(['f', formatFilter(f)])
    for (const v of f.values.slice(1)) parts.push(['or', v])
  }
  return '?' + parts.map(([k, v]) => `${k}=${enc(v)}`).join('&')
}

// Clicking a row: `dimension is value`, replacing an earlier `is` on the same dimension.
export const withFilter = (filters, dimension, value) => [
  ...filters.filter((f) => !(f.dimension === dimension && f.op === '==')),
  { dimension, op: '==', values: [value] },
]

// The dates a state covers, [from, to], both included, in the site's time zone; `all` has none
// of its own (the Stats API starts it at the site's first event). Ranges never end after today.
export const dates = (state, now = new Date()) => {
  if (state.period === 'custom') return [state.from, state.to]
  if (state.period === 'all') return null
  const t = today(now)
  const ref = state.date && state.date < t ? state.date : t
  const clip = (iso) => (iso > t ? t : iso)
  const days = /^(\d+)d$/.exec(state.period)
  if (days) return [addDays(ref, 1 - Number(days[1])), ref]
  const months = /^(\d+)mo$/.exec(state.period)
  if (months) return [monthsAhead(ref, 1 - Number(months[1])), ref]
  if (state.period === 'month') return [monthStart(ref), clip(monthEnd(ref))]
  if (state.period === 'year') return [`${ref.slice(0, 4)}-01-01`, clip(`${ref.slice(0, 4)}-12-31`)]
  return [ref, ref] // day
}

// The Stats API's date_range. The API's `7d`, `30d`, `6mo` and `12mo` end before today, as
// Plausible's do; the dashboard's "last 7 days" and "month to date" include today, so it sends
// their dates (in the site's time zone).
export const dateRange = (state, now = new Date()) => dates(state, now) || 'all'

// Whether the range ends today, so its last bucket is still filling.
export const endsToday = (state, now = new Date()) => {
  const d = dates(state, now)
  return !d || d[1] >= today(now)
}

// The period before, for comparisons: a month (or year) against the month (or year) before,
// to the same day where it is still running (month to date against the same days of the month
// before); the last N months against the N months before; every other range against the same
// number of days just before it.
export const previousDates = (state, now = new Date()) => {
  const d = dates(state, now)
  if (!d) return null
  const [from, to] = d
  const months = state.period === 'month' ? 1 : state.period === 'year' ? 12 : Number((/^(\d+)mo$/.exec(state.period) || [])[1]) || 0
  if (months) {
    const pf = monthsAhead(from, -months)
    const fullEnd = addDays(from, -1)
    const complete = to === (state.period === 'month' ? monthEnd(from) : `${from.slice(0, 4)}-12-31`)
    if (!complete && (state.period === 'month' || state.period === 'year')) {
      // The same day of the month (or of the year) as `to`, or the end of the shorter month.
      const end = state.period === 'month' ? monthEnd(pf) : fullEnd
      const last = monthsAhead(to, -months).slice(0, 8) + to.slice(8)
      const pt = validDate(last) && last.slice(0, 7) === monthsAhead(to, -months).slice(0, 7) ? last : monthEnd(monthsAhead(to, -months))
      return [pf, pt < end ? pt : end]
    }
    return [pf, fullEnd]
  }
  const n = daysIn(d)
  return [addDays(from, -n), addDays(from, -1)]
}

// The range the tiles and the chart's second line compare with, by the comparison mode; null
// when off (or for all time). Year over year is the same dates a year before (29 February
// becomes the 28th). "Match day of week" moves the other range, both ends alike, to the
// nearest start on the same weekday as this range's start (at most three days).
export const comparisonDates = (state, now = new Date()) => {
  const d = dates(state, now)
  if (!d || state.compare === 'off') return null
  let range
  if (state.compare === 'custom' && state.compareFrom && state.compareTo) range = [state.compareFrom, state.compareTo]
  else if (state.compare === 'yoy') {
    const back = (iso) => {
      const y = `${Number(iso.slice(0, 4)) - 1}${iso.slice(4)}`
      return validDate(y) && new Date(y + 'T00:00:00Z').toISOString().slice(0, 10) === y ? y : `${y.slice(0, 8)}28`
    }
    range = [back(d[0]), back(d[1])]
  } else range = previousDates(state, now)
  if (!range || !state.match) return range
  const day = (iso) => new Date(iso + 'T00:00:00Z').getUTCDay()
  let shift = (day(d[0]) - day(range[0]) + 7) % 7
  if (shift > 3) shift -= 7
  return [addDays(range[0], shift), addDays(range[1], shift)]
}

// ← and →: the same kind of period just before or after; null where there is none (all time,
// or the future). Returns a state patch.
export const movePeriod = (state, step, now = new Date()) => {
  const d = dates(state, now)
  if (!d) return null
  const t = today(now)
  const [from, to] = d
  if (step > 0 && to >= t) return null
  if (state.period === 'custom') {
    const n = daysIn(d) * step
    return { from: addDays(from, n), to: addDays(to, n) }
  }
  let ref
  if (step < 0) ref = addDays(from, -1)
  else {
    const start = addDays(to, 1)
    const days = /^(\d+)d$/.exec(state.period)
    const months = /^(\d+)mo$/.exec(state.period)
    if (days) ref = addDays(to, Number(days[1]))
    else if (months) ref = monthEnd(monthsAhead(start, Number(months[1]) - 1))
    else if (state.period === 'month') ref = monthEnd(start)
    else if (state.period === 'year') ref = `${start.slice(0, 4)}-12-31`
    else ref = start
  }
  return { date: ref >= t ? null : ref }
}

// The chart's buckets that make sense for a range: hours up to a week, weeks from a week,
// months from about a quarter; never more than a few hundred points.
export const intervals = (state, now = new Date()) => {
  const d = dates(state, now)
  const n = d ? daysIn(d) : Infinity
  const list = []
  if (n <= 7) list.push('time:hour')
  if (n > 1 && n <= 800) list.push('time:day')
  if (n > 7) list.push('time:week')
  if (n > 31) list.push('time:month')
  return list
}

export const defaultInterval = (state, now = new Date()) => {
  if (state.period === 'day') return 'time:hour'
  if (['6mo', '12mo', 'year', 'all'].includes(state.period)) return 'time:month'
  const d = dates(state, now)
  const n = daysIn(d)
  if (n === 1) return 'time:hour'
  return n > 400 ? 'time:month' : 'time:day'
}

export const interval = (state, now = new Date()) => {
  const list = intervals(state, now)
  return state.interval && list.includes(state.interval) ? state.interval : defaultInterval(state, now)
}

export const apiFilters = (filters) => filters.map((f) => [OPS[f.op], f.dimension, f.values])

// A saved segment's Stats API filters back into the dashboard's (what apiFilters wrote); null
// when one of them is something the dashboard cannot show as a chip.
const OP_OF = Object.fromEntries(Object.entries(OPS).map(([k, v]) => [v, k]))
export const fromApiFilters = (list) => {
  if (!Array.isArray(list)) return null
  const out = []
  for (const f of list) {
    if (!Array.isArray(f) || !OP_OF[f[0]] || typeof f[1] !== 'string' || !/^(event|visit):/.test(f[1]) || !Array.isArray(f[2]) || !f[2].length) return null
    out.push({ dimension: f[1], op: OP_OF[f[0]], values: f[2].map(String) })
  }
  return out
}

// Which entry of the period menu a state is: `day` and `month` ending on an earlier date are
// "Yesterday" and "Last month" when they are exactly that.
export const periodChoice = (state, now = new Date()) => {
  const t = today(now)
  if (state.period === 'day' && state.date === daysBefore(t, 1)) return 'yesterday'
  if (state.period === 'month' && state.date && monthStart(state.date) === monthStart(addDays(monthStart(t), -1))) return 'last_month'
  return state.period
}

// The state patch for a period menu entry.
export const choosePeriod = (id, now = new Date()) => {
  const t = today(now)
  if (id === 'yesterday') return { period: 'day', date: daysBefore(t, 1), from: null, to: null }
  if (id === 'last_month') return { period: 'month', date: addDays(monthStart(t), -1), from: null, to: null }
  return { period: STORED_PERIODS.includes(id) ? id : DEFAULT_PERIOD, date: null, from: null, to: null }
}

// The Stats API's `include`: `extra` plus imported data when the view asks for it
// (`imports=1`); undefined when there is nothing to include.
export const include = (state, extra = {}) => {
  const inc = { ...extra, ...(state.imports ? { imports: true } : {}) }
  return Object.keys(inc).length ? inc : undefined
}
