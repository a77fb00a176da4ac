// The realtime view, behind the current-visitors count: the last 30 minutes (visitors,
// page views, top pages and sources) under the view's filters, asked for as two ISO
// date-times and polled with the count every 30 seconds.

import { ApiError, query } from './api.js'
import { h, fill } from './dom.js'
import { displayValue, metricValue } from './format.js'
import { apiFilters } from './state.js'

const MINUTES = 30
const ROWS = 10

// The last 30 minutes as the Stats API takes date-times (with an offset, here UTC).
export const lastMinutes = (now = new Date(), minutes = MINUTES) =>
  [new Date(now.getTime() - minutes * 60000), now].map((d) => d.toISOString().replace(/\.\d{3}Z$/, 'Z'))

const TABLES = [
  ['pages', 'Top pages', 'event:page', 'Page'],
  ['sources', 'Top sources', 'visit:source', 'Source'],
]

export const createRealtime = ({ onFilter, onAuth }) => {
  const tiles = h('div', { class: 'stats realtime-stats', role: 'group', 'aria-label': `The last ${MINUTES} minutes` })
  const error = h('div', { class: 'stats-error' })
  const bodies = Object.fromEntries(TABLES.map(([id]) => [id, h('div', { class: 'panel-body' })]))
  const el = h('section', { class: 'realtime-view', 'aria-labelledby': 'realtime-h' },
    h('h2', { id: 'realtime-h' }, `Realtime: the last ${MINUTES} minutes`),
    tiles, error,
    h('div', { class: 'realtime-panels' }, TABLES.map(([id, title]) =>
      h('section', { class: 'panel', 'data-panel': `realtime-${id}`, 'aria-labelledby': `realtime-${id}-h` },
        h('div', { class: 'panel-head' }, h('h2', { id: `realtime-${id}-h` }, title)), bodies[id]))))
  let seq = 0

  const tile = (metric, label, value) => h('div', { class: 'stat', 'data-metric': metric },
    h('span', { class: 'stat-label' }, label), h('span', { class: 'stat-value' }, metricValue('visitors', value)))

  const table = (dimension, label, rows) => rows.length
    ? h('table', { class: 'breakdown' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, label), h('th', { scope: 'col', class: 'num' }, 'Visitors'))),
      h('tbody', {}, rows.map((r) => {
        const value = r.dimensions?.[0] ?? ''
        return h('tr', {},
          h('th', { scope: 'row', class: 'name' }, h('button', { type: 'button', class: 'row', onclick: () => onFilter(dimension, value) }, displayValue(dimension, value))),
          h('td', { class: 'num' }, metricValue('visitors', r.metrics?.[0])))
      })))
    : h('p', { class: 'empty' }, `No visitor in the last ${MINUTES} minutes.`)

  // `current` is the current-visitors count the header already polls.
  const load = async (s, current) => {
    const mine = ++seq
    const base = { site_id: s.site, date_range: lastMinutes(), filters: apiFilters(s.filters) }
    el.setAttribute('aria-busy', 'true')
    try {
      const [totals, ...breakdowns] = await Promise.all([
        query({ ...base, metrics: ['visitors', 'pageviews'] }),
        ...TABLES.map(([, , dimension]) => query({ ...base, metrics: ['visitors'], dimensions: [dimension], order_by: [['visitors', 'desc']], pagination: { limit: ROWS, offset: 0 } })),
      ])
      if (mine !== seq) return
      const m = totals?.results?.[0]?.metrics || []
      fill(tiles,
        current == null ? null : tile('current', 'Current visitors', current),
        tile('visitors', `Unique visitors (last ${MINUTES} min)`, m[0]),
        tile('pageviews', `Pageviews (last ${MINUTES} min)`, m[1]))
      fill(error)
      TABLES.forEach(([id, , dimension, label], i) => fill(bodies[id], table(dimension, label, breakdowns[i]?.results || [])))
    } catch (e) {
      if (mine !== seq) return
      if (e instanceof ApiError && e.status === 401) return onAuth()
      fill(error, h('p', { class: 'error' }, `Could not load the last ${MINUTES} minutes: ${e.message}`))
    } finally {
      if (mine === seq) el.removeAttribute('aria-busy')
    }
  }
  return { el, load }
}
