// How dimensions, metrics and values read on screen. The interface is English, so numbers
// and country names are formatted for English too.

const LOCALE = 'en'

export const DIMENSION_LABELS = {
  'event:page': 'Page',
  'event:goal': 'Goal',
  'event:name': 'Event',
  'event:hostname': 'Hostname',
  'visit:entry_page': 'Entry page',
  'visit:exit_page': 'Exit page',
  'visit:channel': 'Channel',
  'visit:source': 'Source',
  'visit:referrer': 'Referrer',
  'visit:utm_medium': 'UTM medium',
  'visit:utm_source': 'UTM source',
  'visit:utm_campaign': 'UTM campaign',
  'visit:utm_content': 'UTM content',
  'visit:utm_term': 'UTM term',
  'visit:country': 'Country',
  'visit:region': 'Region',
  'visit:city': 'City',
  'visit:device': 'Device',
  'visit:browser': 'Browser',
  'visit:browser_version': 'Browser version',
  'visit:os': 'Operating system',
  'visit:os_version': 'OS version',
  'visit:org': 'Organisation',
}

export const dimensionLabel = (d) =>
  DIMENSION_LABELS[d] || (d.startsWith('event:props:') ? `Property ${d.slice(12)}` : d)

export const METRIC_LABELS = {
  visitors: 'Visitors',
  visits: 'Visits',
  pageviews: 'Pageviews',
  views_per_visit: 'Views per visit',
  bounce_rate: 'Bounce rate',
  visit_duration: 'Visit duration',
  events: 'Events',
  conversion_rate: 'Conversion rate',
  group_conversion_rate: 'Conversion rate',
  percentage: 'Share',
  leads: 'Leads',
  lead_conversion_rate: 'Lead conversion',
}

// Rates whose change from the previous period the Stats API gives in percentage points.
export const RATES = new Set(['bounce_rate', 'conversion_rate', 'lead_conversion_rate', 'percentage'])

let regionNames = null
try {
  regionNames = new Intl.DisplayNames([LOCALE], { type: 'region', fallback: 'none' })
} catch {
  regionNames = null
}

export const countryName = (code) => {
  if (!code) return 'Unknown'
  if (!/^[A-Za-z]{2}$/.test(code)) return code
  try {
    return regionNames?.of(code.toUpperCase()) || code
  } catch {
    return code
  }
}

// A dimension value as shown in a row or a filter chip.
export const displayValue = (dimension, value) => {
  if (dimension === 'visit:country') return countryName(value)
  if (value === '' || value == null) return '(none)'
  return String(value)
}

const integer = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 0 })
const decimal = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 })
const compact = new Intl.NumberFormat(LOCALE, { notation: 'compact', maximumFractionDigits: 1 })

export const duration = (seconds) => {
  const s = Math.round(Number(seconds) || 0)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

// A metric value; `short` abbreviates large counts (12.3K) where space is tight.
export const metricValue = (metric, v, short = false) => {
  if (v == null || Number.isNaN(Number(v))) return '—'
  const n = Number(v)
  switch (metric) {
    case 'bounce_rate':
    case 'conversion_rate':
    case 'group_conversion_rate':
    case 'lead_conversion_rate':
    case 'percentage':
      return `${decimal.format(n)}%`
    case 'visit_duration':
      return duration(n)
    case 'views_per_visit':
      return decimal.format(n)
    default:
      return short && Math.abs(n) >= 100000 ? compact.format(n) : integer.format(n)
  }
}

export const axisValue = (metric, n) =>
  metric === 'visit_duration' ? duration(n) : RATES.has(metric) ? `${decimal.format(n)}%` : compact.format(n)

// Metrics whose change is given in percentage points (the rest: percent).
const POINTS = new Set(['bounce_rate', 'conversion_rate', 'lead_conversion_rate', 'group_conversion_rate', 'percentage'])

// A change from the previous period: percent for counts, percentage points for rates.
export const changeText = (metric, change) => {
  const n = decimal.format(Math.abs(change))
  return POINTS.has(metric) ? { short: `${n} pp`, long: `${n} percentage points` } : { short: `${n}%`, long: `${n}%` }
}

// The change of one metric from the previous period, or null where there is nothing to
// compare with (an empty previous period, or a count that was 0): the tile then shows "—"
// rather than "↑ 100%". Rates change by points (one decimal), everything else by percent.
export const change = (metric, now, before, previousVisitors) => {
  if (now == null || before == null || !(Number(previousVisitors) > 0)) return null
  const a = Number(now)
  const b = Number(before)
  if (!Number.isFinite(a) || !Number.isFinite(b)) return null
  // Halves round away from zero, the same way up and down.
  const round = (x) => (Math.sign(x) * Math.round(Math.abs(x))) || 0
  if (POINTS.has(metric)) return round((a - b) * 10) / 10
  if (b === 0) return null
  return round(((a - b) / b) * 100)
}

// A moment (unix seconds) in the site's time zone: "Dec 3, 2026, 14:05"; `dateOnly` drops the time.
const moments = new Map()
export const moment = (seconds, timeZone = 'UTC', dateOnly = false) => {
  if (seconds == null || !Number.isFinite(Number(seconds)) || Number(seconds) <= 0) return '—'
  const key = `${timeZone}|${dateOnly}`
  if (!moments.has(key)) {
    const opts = { day: 'numeric', month: 'short', year: 'numeric', ...(dateOnly ? {} : { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }) }
    try {
      moments.set(key, new Intl.DateTimeFormat(LOCALE, { ...opts, timeZone }))
    } catch {
      moments.set(key, new Intl.DateTimeFormat(LOCALE, { ...opts, timeZone: 'UTC' }))
    }
  }
  return moments.get(key).format(new Date(Number(seconds) * 1000))
}

// A time bucket label from the engine ("2026-11-18", "2026-11-18 13:00:00", "2026-11-01")
// as unix seconds, read as UTC so the chart shows the site's wall-clock time unchanged.
export const bucketSeconds = (label) => {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}))?/.exec(label)
  if (!m) return NaN
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0)) / 1000
}

const dayFmt = new Intl.DateTimeFormat(LOCALE, { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' })
const monthFmt = new Intl.DateTimeFormat(LOCALE, { timeZone: 'UTC', month: 'long', year: 'numeric' })
const hourFmt = new Intl.DateTimeFormat(LOCALE, { timeZone: 'UTC', day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit' })

export const bucketLabel = (interval, label) => {
  const t = bucketSeconds(label)
  if (Number.isNaN(t)) return label
  const d = new Date(t * 1000)
  return (interval === 'time:month' ? monthFmt : interval === 'time:hour' ? hourFmt : dayFmt).format(d)
}

// Dates on the chart follow the browser's language (a Berlin reader sees "6. Dez."); the
// rest of the interface is English. Bucket labels are already the site's wall-clock time.
const userLocale = () => (typeof navigator !== 'undefined' && navigator.language) || LOCALE
const formats = new Map()
const fmt = (key, opts) => {
  if (!formats.has(key)) {
    try {
      formats.set(key, new Intl.DateTimeFormat(userLocale(), { timeZone: 'UTC', ...opts }))
    } catch {
      formats.set(key, new Intl.DateTimeFormat(LOCALE, { timeZone: 'UTC', ...opts }))
    }
  }
  return formats.get(key)
}
const TICK = {
  'time:hour': { hour: 'numeric', minute: '2-digit' },
  'time:day': { day: 'numeric', month: 'short' },
  'time:week': { day: 'numeric', month: 'short' },
  'time:month': { month: 'short', year: '2-digit' },
}
const LONG = {
  'time:hour': { weekday: 'short', day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit' },
  'time:day': { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' },
  'time:week': { day: 'numeric', month: 'short', year: 'numeric' },
  'time:month': { month: 'long', year: 'numeric' },
}

// A bucket on the chart's axis ("14:00", "6 Dec", "Dec 26") and in its tooltip.
export const tickLabel = (interval, label) => {
  const t = bucketSeconds(label)
  return Number.isNaN(t) ? label : fmt(`t${interval}`, TICK[interval] || TICK['time:day']).format(new Date(t * 1000))
}
export const longLabel = (interval, label) => {
  const t = bucketSeconds(label)
  if (Number.isNaN(t)) return label
  const text = fmt(`l${interval}`, LONG[interval] || LONG['time:day']).format(new Date(t * 1000))
  return interval === 'time:week' ? `Week of ${text}` : text
}

// A date range [from, to] (YYYY-MM-DD) in the browser's language: "1–6 Dec 2026".
export const rangeText = ([from, to]) => {
  const f = fmt('range', { day: 'numeric', month: 'short', year: 'numeric' })
  const a = new Date(`${from}T00:00:00Z`)
  const b = new Date(`${to}T00:00:00Z`)
  if (from === to) return f.format(a)
  return typeof f.formatRange === 'function' ? f.formatRange(a, b) : `${f.format(a)} – ${f.format(b)}`
}
