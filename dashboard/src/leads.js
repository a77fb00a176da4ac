// The Leads view's own parts: breakdowns of leads, the funnel from visitor to lead, and what
// to say when there are no leads. Aggregates only: nothing here names a person, so every
// reader of the site sees it.

import { ApiError, query } from './api.js'
import { h, fill, uid } from './dom.js'
import { metricValue } from './format.js'
import { definePanels } from './panels.js'
import { apiFilters, dateRange, include } from './state.js'

const LEAD_METRICS = ['leads', 'visitors', 'lead_conversion_rate']

export const LEAD_PANELS = definePanels([
  {
    id: 'lead-sources',
    title: 'Lead sources',
    tabs: [
      ['Sources', 'visit:source'],
      ['Channels', 'visit:channel'],
      ['UTM campaigns', 'visit:utm_campaign'],
    ],
  },
  {
    id: 'lead-pages',
    title: 'Lead pages',
    tabs: [
      ['Identifying pages', 'event:page'],
      ['Entry pages', 'visit:entry_page'],
    ],
  },
  {
    id: 'lead-countries',
    title: 'Lead countries',
    tabs: [['Countries', 'visit:country']],
    empty: 'No visitor with a known country in this period (countries need a GeoIP database, CANDOR_GEOIP_DB).',
  },
  {
    id: 'lead-orgs',
    title: 'Lead organisations',
    tabs: [['Organisations', 'visit:org']],
    empty: 'No visitor with a known organisation in this period (organisations need an ASN database, CANDOR_ORG_DB).',
  },
], LEAD_METRICS)

export const NO_LEADS = 'No leads in this period. Leads appear when a visitor gives marketing consent and submits a form: ' +
  'switch on the snippet’s forms extra (data-track="forms" on the script tag, data-candor-form on the form) ' +
  'or call candor.identify() from your own form.'
export const NO_LEADS_FILTERED = 'No leads match these filters in this period. Remove a filter to see more.'

// A step's count as a share of the first step's, one decimal.
const share = (n, first) => (first > 0 && Number.isFinite(n) ? Math.round((n / first) * 1000) / 10 : null)

// The funnel's numbers for the period and filters of `state`: four small queries at most.
export const funnelSteps = async (state) => {
  const base = { site_id: state.site, date_range: dateRange(state), filters: apiFilters(state.filters), include: include(state) }
  const [totals, goals] = await Promise.all([
    query({ ...base, metrics: ['visitors', 'visits', 'bounce_rate', 'leads'] }),
    query({ ...base, metrics: ['visitors'], dimensions: ['event:goal'], pagination: { limit: 1000, offset: 0 } }),
  ])
  const [visitors, visits, bounceRate, leads] = (totals?.results?.[0]?.metrics || []).map((v) => Number(v) || 0)
  // Goals with no completion in the period add nothing, so the goals the breakdown lists are enough.
  const names = (goals?.results || []).map((r) => r.dimensions?.[0]).filter((g) => typeof g === 'string' && g)
  let completions = 0
  if (names.length) {
    const done = await query({ ...base, metrics: ['visitors'], filters: [...base.filters, ['is', 'event:goal', names]] })
    completions = Number(done?.results?.[0]?.metrics?.[0]) || 0
  }
  return [
    { id: 'visitors', label: 'Visitors', hint: 'unique visitors', value: visitors },
    // The bounce rate comes rounded to a whole percent, so this is the nearest whole visit.
    { id: 'engaged', label: 'Engaged visits', hint: 'visits that did not bounce', value: Math.round(visits * (1 - bounceRate / 100)) },
    {
      id: 'goals',
      label: 'Goal completions',
      hint: names.length ? 'visitors who completed a goal' : 'no goal completed in this period, or no goals set up',
      value: completions,
    },
    { id: 'leads', label: 'Leads', hint: 'visitors who identified with marketing consent', value: leads },
  ].map((s) => ({ ...s, share: share(s.value, visitors) }))
}

// The funnel panel: `load(state)` draws it; `onAuth()` when the session has ended.
export const createFunnel = ({ onAuth }) => {
  const headingId = uid('funnel-h')
  const body = h('div', { class: 'panel-body' }, h('p', { class: 'empty' }, 'Loading…'))
  const el = h('section', { class: 'panel panel-funnel', 'aria-labelledby': headingId, 'data-panel': 'funnel' },
    h('div', { class: 'panel-head' }, h('h2', { id: headingId }, 'From visitor to lead')),
    body,
  )
  let seq = 0

  const load = async (state) => {
    const mine = ++seq
    body.setAttribute('aria-busy', 'true')
    body.classList.add('loading')
    let steps
    try {
      steps = await funnelSteps(state)
    } catch (e) {
      if (mine !== seq) return
      body.removeAttribute('aria-busy')
      body.classList.remove('loading')
      if (e instanceof ApiError && e.status === 401) onAuth()
      fill(body, h('p', { class: 'error' }, `Could not load the funnel: ${e.message}`))
      return
    }
    if (mine !== seq) return
    body.removeAttribute('aria-busy')
    body.classList.remove('loading')
    fill(body,
      h('ol', { class: 'funnel' }, steps.map((s) =>
        h('li', { 'data-step': s.id },
          h('span', { class: 'bar', 'aria-hidden': 'true', style: { width: `${Math.max(0, Math.min(100, s.share ?? 0)).toFixed(1)}%` } }),
          h('span', { class: 'step-name' }, h('strong', {}, s.label), h('span', { class: 'step-hint' }, s.hint)),
          h('span', { class: 'step-value' }, metricValue('visitors', s.value)),
          h('span', { class: 'step-share' }, s.share == null ? '—' : `${metricValue('percentage', s.share)}`,
            h('span', { class: 'sr-only' }, ' of visitors')),
        ))),
      h('p', { class: 'hint' }, 'Shares are of the first step. Visits and visitors are counted differently, so engaged visits can exceed visitors.'),
    )
  }

  return { el, load }
}
