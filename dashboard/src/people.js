// People: the site's recent leads and one lead's page with its visit timeline. Names, emails
// and companies live only here, and app.js shows this (and so makes these requests) only to a
// session whose token has leads:read for the site.

import { api, ApiError } from './api.js'
import { h, fill, uid } from './dom.js'
import { countryName, duration, metricValue, moment } from './format.js'

export const RECENT = 20

const NO_LEADS_YET = 'No leads yet. Leads appear here when a visitor gives marketing consent and submits a form: ' +
  'switch on the snippet’s forms extra (data-track="forms" on the script tag, data-candor-form on the form) ' +
  'or call candor.identify() from your own form.'

const zoneNote = (timeZone) => (timeZone && timeZone !== 'UTC' ? ` Times in ${timeZone}.` : '')
const text = (v) => (typeof v === 'string' && v.trim() ? v.trim() : '')
const who = (lead) => text(lead?.name) || text(lead?.email) || 'Unnamed lead'
const score = (n) => (Number.isFinite(Number(n)) ? metricValue('views_per_visit', Math.round(Number(n) * 10) / 10) : '—')

// "Google (Organic Search) · campaign spring" from a touch or a timeline visit.
const touchText = (t) => {
  if (!t) return '—'
  const source = text(t.source) || 'Direct / None'
  const channel = text(t.channel)
  const campaign = text(t.utm_campaign)
  return `${source}${channel && channel !== source ? ` (${channel})` : ''}${campaign ? ` · campaign ${campaign}` : ''}`
}

// `href(id)` is the URL of a lead's page (null: the list); `open(id)` goes there; `onAuth()`
// when the session has ended.
export const createPeople = ({ href, open, onAuth }) => {
  const headingId = uid('people-h')
  const heading = h('h2', { id: headingId }, 'Recent leads')
  const back = h('a', { class: 'back', href: '#', onclick: (e) => go(e, null) }, '← All recent leads')
  const body = h('div', { class: 'panel-body' })
  const el = h('section', { class: 'panel people', 'aria-labelledby': headingId, 'data-panel': 'people' },
    back, h('div', { class: 'panel-head' }, heading), body)
  let seq = 0

  const go = (e, id) => {
    if (e.button || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return // a new tab or window
    e.preventDefault()
    open(id)
  }

  const fail = (mine, what, e) => {
    if (mine !== seq) return
    body.removeAttribute('aria-busy')
    if (e instanceof ApiError && e.status === 401) return onAuth()
    const message = e instanceof ApiError && e.status === 404 ? 'There is no lead with this id: it may have been erased.' : `Could not load ${what}: ${e.message}`
    fill(body, h('p', { class: 'error' }, message))
  }

  const load = async ({ site, lead }, { timeZone = 'UTC' } = {}) => {
    const mine = ++seq
    back.hidden = !lead
    back.setAttribute('href', href(null))
    heading.textContent = lead ? 'Lead' : 'Recent leads'
    body.setAttribute('aria-busy', 'true')
    fill(body, h('p', { class: 'empty' }, 'Loading…'))
    try {
      if (lead) {
        const data = await api(`/api/v1/leads/${encodeURIComponent(lead)}`)
        if (mine !== seq) return
        heading.textContent = who(data?.lead)
        renderLead(data, timeZone)
      } else {
        const data = await api(`/api/v1/leads/recent?site=${encodeURIComponent(site)}&limit=${RECENT}`)
        if (mine !== seq) return
        renderRecent(Array.isArray(data?.leads) ? data.leads : [], timeZone)
      }
      body.removeAttribute('aria-busy')
    } catch (e) {
      fail(mine, lead ? 'this lead' : 'the recent leads', e)
    }
  }

  const renderRecent = (leads, timeZone) => {
    if (!leads.length) return fill(body, h('p', { class: 'empty' }, NO_LEADS_YET))
    fill(body,
      h('p', { class: 'hint' }, `The ${leads.length === 1 ? 'lead' : `${leads.length} leads`} who identified most recently, newest first; not limited by the period or filters.${zoneNote(timeZone)}`),
      h('table', { class: 'breakdown people-list' },
        h('caption', { class: 'sr-only' }, 'Recent leads, newest first. Choose a name to see the lead’s visits.'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Name'),
          h('th', { scope: 'col', class: 'company' }, 'Company'),
          h('th', { scope: 'col', class: 'num' }, 'Score'),
          h('th', { scope: 'col', class: 'source' }, 'First touch'),
          h('th', { scope: 'col', class: 'seen' }, 'Last seen'),
        )),
        h('tbody', {}, leads.map((l) => h('tr', { 'data-lead': l.id },
          h('th', { scope: 'row', class: 'name' }, h('a', { href: href(l.id), onclick: (e) => go(e, l.id) }, who(l)),
            // Phones have no room for these columns: they go under the name instead.
            h('span', { class: 'narrow' }, [text(l.company), `last seen ${moment(l.last_seen, timeZone, true)}`].filter(Boolean).join(' · '))),
          h('td', { class: 'company' }, text(l.company) || '—'),
          h('td', { class: 'num' }, score(l.score)),
          h('td', { class: 'source' }, text(l.lead_source) || '—'),
          h('td', { class: 'seen' }, moment(l.last_seen, timeZone)),
        ))),
      ),
    )
  }

  const renderLead = (data, timeZone) => {
    const lead = data?.lead || {}
    const hist = data?.history
    const facts = [
      ['Email', text(lead.email) || '—'],
      ['Company', text(lead.company) || '—'],
      ['Identified', moment(lead.created_at, timeZone)],
      ['Consent given', `${moment(lead.consent_at, timeZone)}${text(data?.consent_page) ? ` on ${data.consent_page}` : ''}`],
      // Chosen by the person in the privacy center.
      ['Contact', [text(lead.preferences?.frequency), (lead.preferences?.topics || []).map(text).join(', ')].filter(Boolean).join(' · ') || 'no preference chosen'],
    ]
    if (lead.status !== 'active' || !hist) {
      return fill(body,
        h('p', { class: 'notice' }, `This lead is ${text(lead.status) || 'no longer active'}: its contact details and visits are no longer kept.`))
    }
    const totals = [
      ['Score', score(hist.score)],
      ['Visits', metricValue('visits', hist.visits)],
      ['Pageviews', metricValue('pageviews', hist.pageviews)],
      ['First seen', moment(hist.first_seen, timeZone)],
      ['Last seen', moment(hist.last_seen, timeZone)],
    ]
    const timeline = Array.isArray(hist.timeline) ? hist.timeline : []
    const pages = Array.isArray(hist.top_pages) ? hist.top_pages : []
    fill(body,
      h('dl', { class: 'facts' }, facts.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))),
      h('dl', { class: 'facts totals' }, totals.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))),
      h('dl', { class: 'facts touches' },
        h('div', {}, h('dt', {}, 'First touch'), h('dd', {}, touchText(hist.first_touch))),
        h('div', {}, h('dt', {}, 'Latest touch'), h('dd', {}, touchText(hist.last_touch)))),
      h('h3', {}, 'Visits', h('span', { class: 'hint' }, ` newest first${zoneNote(timeZone).replace('.', '')}`)),
      timeline.length
        ? h('ol', { class: 'timeline' }, timeline.map((v) => h('li', {},
          h('p', { class: 'when' },
            h('strong', {}, moment(v.start, timeZone)),
            ` · ${duration(Math.max(0, (Number(v.end) || 0) - (Number(v.start) || 0)))} · ${metricValue('pageviews', v.pageviews)} ${Number(v.pageviews) === 1 ? 'pageview' : 'pageviews'}`),
          h('p', {}, touchText(v)),
          h('p', { class: 'hint' }, [
            text(v.entry_page) && text(v.exit_page) && v.entry_page !== v.exit_page ? `${v.entry_page} → ${v.exit_page}` : text(v.entry_page) || '—',
            text(v.country) ? countryName(v.country) : '',
            [text(v.device), text(v.browser)].filter(Boolean).join(', '),
          ].filter(Boolean).join(' · ')),
        )))
        : h('p', { class: 'empty' }, 'No visits linked to this lead.'),
      pages.length
        ? [h('h3', {}, 'Top pages'),
          h('table', { class: 'breakdown' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Page'), h('th', { scope: 'col', class: 'num' }, 'Pageviews'))),
            h('tbody', {}, pages.map((p) => h('tr', {}, h('th', { scope: 'row', class: 'name plain' }, text(p.page) || '(none)'), h('td', { class: 'num' }, metricValue('pageviews', p.pageviews))))))]
        : null,
    )
  }

  return { el, load }
}
