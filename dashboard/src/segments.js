// Saved segments: a site's named sets of filters, kept in the store for every reader of the
// site. The menu saves the current filters under a name, lists the site's segments, opens one
// (its filters replace the view's, the URL says `segment=<id>`, so a link opens it) and deletes.

import { api, ApiError } from './api.js'
import { h, fill } from './dom.js'
import { apiFilters, fromApiFilters } from './state.js'

const path = (site, id) => `/api/v1/sites/${encodeURIComponent(site)}/segments${id ? `/${encodeURIComponent(id)}` : ''}`

// The names of the segments seen so far, by id: the menu button names the open one.
export const segmentNames = new Map()

export const listSegments = async (site) => {
  const data = await api(path(site))
  const list = (Array.isArray(data?.segments) ? data.segments : [])
    .map((s) => ({ ...s, filters: fromApiFilters(s.filters) }))
    .filter((s) => typeof s.id === 'string' && s.filters)
  for (const s of list) segmentNames.set(s.id, String(s.name))
  return list
}

// `open(segment)` shows a segment; `close()` leaves the open one (deleted); `context()` is the
// view's state now; `describe(filter)` a filter as text.
export const createSegments = ({ open, close, context, describe, onAuth }) => {
  const button = h('button', { type: 'button', class: 'segments-open', 'aria-haspopup': 'dialog', onclick: () => show() }, 'Segments')
  const list = h('div', { class: 'segment-list' })
  const name = h('input', { id: 'segment-name', type: 'text', required: true, maxlength: '120', autocomplete: 'off' })
  const status = h('p', { class: 'form-status', role: 'status' })
  const saveHint = h('p', { class: 'hint', id: 'segment-name-hint' })
  const saveButton = h('button', { type: 'submit' }, 'Save segment')
  const form = h('form', { class: 'segment-save', onsubmit: (e) => save(e) },
    h('h3', {}, 'Save the current filters'),
    h('label', { for: 'segment-name' }, 'Segment name'), name, saveHint, saveButton)
  name.setAttribute('aria-describedby', 'segment-name-hint')
  const dialog = h('dialog', { class: 'modal segments-dialog', 'aria-labelledby': 'segments-h' },
    h('div', { class: 'details-head' }, h('h2', { id: 'segments-h' }, 'Segments'),
      h('button', { type: 'button', class: 'close', 'aria-label': 'Close', onclick: () => dialog.close() }, '×')),
    list, form, status)
  dialog.addEventListener('click', (e) => e.target === dialog && dialog.close())

  const failed = (e) => {
    if (e instanceof ApiError && e.status === 401) {
      dialog.close()
      onAuth()
    }
    status.className = 'form-status error'
    status.textContent = e.message
  }

  const render = async () => {
    const s = context()
    fill(list, h('p', { class: 'empty' }, 'Loading…'))
    let segments
    try {
      segments = await listSegments(s.site)
    } catch (e) {
      fill(list)
      return failed(e)
    }
    fill(list, segments.length
      ? h('ul', { class: 'segments', 'aria-label': `Segments of ${s.site}` }, segments.map((seg) => h('li', { class: seg.id === s.segment ? 'current' : '' },
        h('a', { href: '#', class: 'segment-link', 'aria-current': seg.id === s.segment ? 'true' : null, onclick: (e) => {
          e.preventDefault()
          dialog.close()
          open(seg)
        } }, seg.name),
        h('span', { class: 'segment-filters' }, seg.filters.map(describe).join(' and ')),
        h('button', { type: 'button', class: 'danger', 'aria-label': `Delete segment ${seg.name}`, onclick: () => remove(seg) }, 'Delete'))))
      : h('p', { class: 'empty' }, 'No saved segments for this site yet.'))
  }

  const show = () => {
    const s = context()
    status.textContent = ''
    const none = !s.filters.length
    saveButton.disabled = none
    name.disabled = none
    saveHint.textContent = none ? 'Add a filter first: a segment saves the filters on screen.' : `Saves: ${s.filters.map(describe).join(' and ')}.`
    dialog.showModal()
    render()
  }

  const save = async (e) => {
    e.preventDefault()
    const s = context()
    status.className = 'form-status'
    try {
      const seg = await api(path(s.site), { method: 'POST', body: { name: name.value.trim(), filters: apiFilters(s.filters) } })
      segmentNames.set(seg.id, String(seg.name))
      name.value = ''
      status.textContent = `Saved “${seg.name}”.`
      open({ ...seg, filters: s.filters })
      await render()
    } catch (err) {
      failed(err)
    }
  }

  const remove = async (seg) => {
    const s = context()
    status.className = 'form-status'
    try {
      await api(path(s.site, seg.id), { method: 'DELETE' })
      status.textContent = `Deleted “${seg.name}”.`
      segmentNames.delete(seg.id)
      if (seg.id === s.segment) close()
      await render()
    } catch (err) {
      failed(err)
    }
  }

  return { button, dialog }
}
