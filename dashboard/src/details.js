// A panel's details: every row of one breakdown in a modal dialog, 50 at a time ("Load
// more"), searchable (a `contains` filter on the dimension), sortable by any column, with the
// metrics the small panel has no room for.

import { ApiError, query } from './api.js'
import { h, fill } from './dom.js'
import { dimensionLabel, displayValue, METRIC_LABELS, metricValue } from './format.js'
import { apiFilters, dateRange, include } from './state.js'

export const PAGE = 50

// The extra metrics by kind of dimension (what the Stats API answers for it).
export const detailMetrics = (tab) => {
  const d = tab.dimension
  if (tab.metrics.includes('leads')) return tab.metrics
  if (d === 'event:goal') return ['visitors', 'events', 'conversion_rate']
  if (d === 'event:page') return ['visitors', 'pageviews', 'bounce_rate', 'percentage']
  if (d === 'event:name' || d.startsWith('event:props:') || d === 'event:hostname') return ['visitors', 'events', 'percentage']
  return ['visitors', 'visits', 'bounce_rate', 'visit_duration', 'percentage']
}

export const createDetails = ({ onFilter, onAuth }) => {
  const title = h('h2', { id: 'details-h' })
  const search = h('input', { type: 'search', id: 'details-search', autocomplete: 'off', oninput: () => searchSoon() })
  const body = h('div', { class: 'details-body' })
  const status = h('p', { class: 'panel-status', role: 'status' })
  const more = h('button', { type: 'button', class: 'more-rows', onclick: () => load(true) }, `Load ${PAGE} more`)
  const el = h('dialog', { class: 'modal details', 'aria-labelledby': 'details-h' },
    h('div', { class: 'details-head' }, title,
      h('button', { type: 'button', class: 'close', 'aria-label': 'Close details', onclick: () => el.close() }, '×')),
    h('div', { class: 'field search' }, h('label', { for: 'details-search' }, 'Search'), search),
    body, h('div', { class: 'details-foot' }, more, status))

  let ctx = null
  let rows = []
  let total = 0
  let seq = 0
  let timer = 0

  const searchSoon = () => {
    clearTimeout(timer)
    timer = setTimeout(() => load(false), 200)
  }

  const sortBy = (key) => {
    const [k, dir] = ctx.order
    ctx.order = [key, k === key ? (dir === 'desc' ? 'asc' : 'desc') : key === ctx.tab.dimension ? 'asc' : 'desc']
    load(false)
  }

  const request = (offset) => {
    const { state, tab, metrics, extra, order } = ctx
    const text = search.value.trim()
    return query({
      site_id: state.site,
      metrics,
      date_range: dateRange(state),
      dimensions: [tab.dimension],
      filters: [...apiFilters(state.filters), ...extra, ...(text ? [['contains', tab.dimension, [text]]] : [])],
      order_by: [order],
      pagination: { limit: PAGE, offset },
      include: include(state, { total_rows: true }),
    })
  }

  const load = async (append) => {
    const mine = ++seq
    body.setAttribute('aria-busy', 'true')
    more.disabled = true
    let data
    try {
      data = await request(append ? rows.length : 0)
    } catch (e) {
      if (mine !== seq) return
      body.removeAttribute('aria-busy')
      if (e instanceof ApiError && e.status === 401) {
        el.close()
        return onAuth()
      }
      fill(body, h('p', { class: 'error' }, `Could not load the rows: ${e.message}`))
      return
    }
    if (mine !== seq) return
    body.removeAttribute('aria-busy')
    const got = Array.isArray(data?.results) ? data.results : []
    rows = append ? [...rows, ...got] : got
    total = Number(data?.meta?.total_rows) || rows.length
    render()
    if (append && got.length) body.querySelectorAll('tbody tr')[rows.length - got.length]?.querySelector('button')?.focus()
  }

  const render = () => {
    const { tab, metrics, order } = ctx
    const label = dimensionLabel(tab.dimension)
    const head = (key, text, cls) => {
      const sorted = order[0] === key
      return h('th', { scope: 'col', class: cls, 'aria-sort': sorted ? (order[1] === 'asc' ? 'ascending' : 'descending') : null },
        h('button', { type: 'button', class: 'sort', onclick: () => sortBy(key) }, text,
          h('span', { 'aria-hidden': 'true' }, sorted ? (order[1] === 'asc' ? ' ▲' : ' ▼') : '')))
    }
    more.hidden = rows.length >= total
    more.disabled = false
    status.textContent = rows.length ? `Showing ${rows.length} of ${total.toLocaleString('en')} rows.` : ''
    if (!rows.length) {
      fill(body, h('p', { class: 'empty' }, search.value.trim() ? 'No row contains this text.' : 'No data for this period.'))
      return
    }
    fill(body, h('table', { class: 'breakdown details-table' },
      h('caption', { class: 'sr-only' }, `${title.textContent}. Column headers sort; choose a row to filter the dashboard by it.`),
      h('thead', {}, h('tr', {}, head(tab.dimension, label, 'dim'), metrics.map((m) => head(m, METRIC_LABELS[m] || m, 'num')))),
      h('tbody', {}, rows.map((r, i) => {
        const value = r.dimensions?.[0] ?? ''
        const shown = displayValue(tab.dimension, value)
        return h('tr', { 'data-row': i + 1 },
          h('th', { scope: 'row', class: 'name' },
            h('button', { type: 'button', class: 'row', title: `Filter: ${label} is ${shown}`, onclick: () => { el.close(); onFilter(tab.dimension, value) } }, shown)),
          metrics.map((m, j) => h('td', { class: 'num', 'data-metric': m }, metricValue(m, r.metrics?.[j]))))
      }))))
  }

  // `extra`: the panel's own filters (e.g. leaving out ISPs).
  const open = (def, tab, state, extra = []) => {
    const metrics = detailMetrics(tab)
    ctx = { def, tab, state, extra, metrics, order: [metrics[0], 'desc'] }
    title.textContent = def.tabs.length > 1 ? `${def.title}: ${tab.label}` : def.title
    search.value = ''
    rows = []
    fill(body, h('p', { class: 'empty' }, 'Loading…'))
    more.hidden = true
    status.textContent = ''
    el.showModal()
    search.focus()
    load(false)
  }

  return { el, open }
}
