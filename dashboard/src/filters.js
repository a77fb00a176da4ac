// The filter bar: one chip per filter (choose it to edit, × to remove), "Clear all", and
// "Add filter", which opens the filter builder: a dimension, is / is not / contains / does not
// contain, one or more values, with suggestions from the data (the dimension's breakdown,
// narrowed by what has been typed).

import { ApiError, query } from './api.js'
import { h, fill } from './dom.js'
import { dimensionLabel, displayValue } from './format.js'
import { propKeys, rememberPropKey } from './prefs.js'
import { apiFilters, dateRange, include, OP_WORDS } from './state.js'

export const FILTER_DIMENSIONS = [
  'event:page', 'visit:entry_page', 'visit:exit_page', 'event:hostname',
  'visit:source', 'visit:channel', 'visit:referrer',
  'visit:utm_medium', 'visit:utm_source', 'visit:utm_campaign', 'visit:utm_content', 'visit:utm_term',
  'visit:country', 'visit:region', 'visit:city',
  'visit:device', 'visit:browser', 'visit:os', 'visit:org',
  'event:goal', 'event:name',
]
const PROPERTY = 'event:props:'
const SUGGESTIONS = 20

// `apply(filters)` sets the view's filters; `context()` is the view's state now.
export const createFilterBar = ({ apply, context, onAuth }) => {
  const list = h('ul', { class: 'chips', 'aria-label': 'Active filters' })
  const addButton = h('button', { type: 'button', class: 'add-filter', onclick: () => open(-1) }, '+ Add filter')
  const el = h('div', { class: 'filters' }, list, addButton)

  // The builder, a modal <dialog>: focus stays inside, Escape closes it.
  const dimension = h('select', { id: 'filter-dimension', onchange: () => changed() })
  const keyInput = h('input', { id: 'filter-key', type: 'text', autocomplete: 'off', list: 'filter-keys', oninput: () => suggest() })
  const keyList = h('datalist', { id: 'filter-keys' })
  const keyRow = h('div', { class: 'field' }, h('label', { for: 'filter-key' }, 'Property key'), keyInput, keyList)
  const op = h('select', { id: 'filter-op' }, Object.entries(OP_WORDS).map(([k, w]) => h('option', { value: k }, w)))
  const valueInput = h('input', {
    id: 'filter-value', type: 'text', autocomplete: 'off', 'aria-describedby': 'filter-hint',
    oninput: () => suggest(),
    onkeydown: (e) => {
      if (e.key === 'Enter' && valueInput.value) {
        e.preventDefault()
        addValue()
      }
    },
  })
  // The data's values, as buttons: a datalist is hard to find, and poor on phones.
  const suggestions = h('ul', { class: 'suggestions', id: 'filter-suggestions', 'aria-label': 'Suggested values' })
  const values = h('ul', { class: 'chips values', 'aria-label': 'Values (any of them matches)' })
  const error = h('p', { class: 'form-error', role: 'alert' })
  const title = h('h2', { id: 'filter-h' })
  const removeButton = h('button', { type: 'button', class: 'danger', onclick: () => remove() }, 'Remove filter')
  const form = h('form', { method: 'dialog', onsubmit: (e) => submit(e) },
    title,
    h('div', { class: 'field' }, h('label', { for: 'filter-dimension' }, 'Filter by'), dimension),
    keyRow,
    h('div', { class: 'field' }, h('label', { for: 'filter-op' }, 'Operator'), op),
    h('div', { class: 'field' }, h('label', { for: 'filter-value' }, 'Value'),
      h('div', { class: 'value-row' }, valueInput, h('button', { type: 'button', onclick: () => addValue() }, 'Add value')),
      h('p', { class: 'hint', id: 'filter-hint' }, 'Type to narrow the suggestions below (this period’s top values). Several values match any of them.')),
    suggestions,
    values,
    error,
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply filter'),
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'),
      removeButton),
  )
  const dialog = h('dialog', { class: 'modal filter-dialog', 'aria-labelledby': 'filter-h' }, form)

  let editing = -1
  let chosen = []
  let seq = 0
  let timer = 0

  const currentDimension = () =>
    dimension.value === PROPERTY ? (keyInput.value.trim() ? PROPERTY + keyInput.value.trim() : '') : dimension.value

  const showValues = () => {
    const d = currentDimension()
    fill(values, chosen.length ? h('li', { class: 'values-label', 'aria-hidden': 'true' }, chosen.length > 1 ? 'Any of:' : 'Value:') : null,
      chosen.map((v, i) => h('li', {},
      h('button', { type: 'button', class: 'chip', 'aria-label': `Remove value ${displayValue(d, v)}`, onclick: () => { chosen.splice(i, 1); showValues() } },
        displayValue(d, v), h('span', { 'aria-hidden': 'true', class: 'x' }, '×')))))
  }

  const addValue = () => {
    const v = valueInput.value
    if (v && !chosen.includes(v)) chosen.push(v)
    valueInput.value = ''
    showValues()
    suggest()
    valueInput.focus()
  }

  const pick = (v) => {
    if (!chosen.includes(v)) chosen.push(v)
    valueInput.value = ''
    showValues()
    suggest()
    valueInput.focus()
  }

  const changed = () => {
    keyRow.hidden = dimension.value !== PROPERTY
    chosen = []
    showValues()
    suggest()
  }

  // The dimension's top values in this period under the other filters, narrowed by the text.
  const suggest = () => {
    clearTimeout(timer)
    timer = setTimeout(async () => {
      const d = currentDimension()
      const mine = ++seq
      if (!d) return fill(suggestions)
      const s = context()
      const others = s.filters.filter((_, i) => i !== editing)
      const text = valueInput.value
      try {
        const data = await query({
          site_id: s.site,
          metrics: ['visitors'],
          date_range: dateRange(s),
          dimensions: [d],
          filters: [...apiFilters(others), ...(text ? [['contains', d, [text]]] : [])],
          order_by: [['visitors', 'desc']],
          pagination: { limit: SUGGESTIONS, offset: 0 },
          include: include(s),
        })
        if (mine !== seq) return
        const found = (data?.results || []).filter((r) => !chosen.includes(String(r.dimensions?.[0] ?? '')))
        fill(suggestions, found.length ? h('li', { class: 'values-label', 'aria-hidden': 'true' }, 'Suggestions:') : null, (data?.results || [])
          .filter((r) => !chosen.includes(String(r.dimensions?.[0] ?? '')))
          .map((r) => {
            const v = String(r.dimensions?.[0] ?? '')
            return h('li', {}, h('button', { type: 'button', class: 'suggestion', title: `Add ${displayValue(d, v)}`, onclick: () => pick(v) },
              displayValue(d, v), h('span', { class: 'count' }, String(r.metrics?.[0] ?? ''))))
          }))
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) onAuth()
        if (mine === seq) fill(suggestions)
      }
    }, 150)
  }

  const open = (i) => {
    const s = context()
    editing = i
    const f = s.filters[i]
    const keys = propKeys(s.site)
    const known = [...FILTER_DIMENSIONS]
    fill(dimension,
      known.map((d) => h('option', { value: d }, dimensionLabel(d))),
      h('option', { value: PROPERTY }, 'Custom property…'))
    fill(keyList, keys.map((k) => h('option', { value: k })))
    if (f && f.dimension.startsWith(PROPERTY)) {
      dimension.value = PROPERTY
      keyInput.value = f.dimension.slice(PROPERTY.length)
    } else {
      dimension.value = f ? f.dimension : known[0]
      keyInput.value = keys[0] || ''
    }
    keyRow.hidden = dimension.value !== PROPERTY
    op.value = f ? f.op : '=='
    chosen = f ? [...f.values] : []
    valueInput.value = ''
    error.textContent = ''
    title.textContent = f ? 'Edit filter' : 'Add a filter'
    removeButton.hidden = !f
    showValues()
    suggest()
    dialog.showModal()
    ;(f ? valueInput : dimension).focus()
  }

  const submit = (e) => {
    e.preventDefault()
    const d = currentDimension()
    if (valueInput.value && !chosen.includes(valueInput.value)) chosen.push(valueInput.value)
    if (!d) {
      error.textContent = 'Enter the property key.'
      keyInput.focus()
      return
    }
    if (!chosen.length) {
      error.textContent = 'Enter or choose at least one value.'
      valueInput.focus()
      return
    }
    if (d.startsWith(PROPERTY)) rememberPropKey(context().site, d.slice(PROPERTY.length))
    const f = { dimension: d, op: op.value, values: [...chosen] }
    const filters = [...context().filters]
    if (editing >= 0) filters[editing] = f
    else filters.push(f)
    dialog.close()
    apply(filters)
    addButton.focus()
  }

  const remove = () => {
    dialog.close()
    removeAt(editing)
  }

  // `i` is the filter's index; -1 removes them all.
  const removeAt = (i) => {
    apply(i < 0 ? [] : context().filters.filter((_, j) => j !== i))
    // The chip that had focus is gone: keep keyboard users in the filter bar.
    ;(list.querySelector('button') || addButton).focus()
  }

  // Draws the chips of `filters`; `text(f)` is a filter in words.
  const render = (filters, text) => {
    fill(list, filters.map((f, i) => h('li', { class: 'chip' },
      h('button', { type: 'button', class: 'chip-edit', 'aria-label': `Edit filter: ${text(f)}`, onclick: () => open(i) }, text(f)),
      h('button', { type: 'button', class: 'chip-x', 'aria-label': `Remove filter: ${text(f)}`, onclick: () => removeAt(i) },
        h('span', { 'aria-hidden': 'true' }, '×')))),
    filters.length > 1 ? h('li', {}, h('button', { type: 'button', class: 'clear', onclick: () => removeAt(-1) }, 'Clear all filters')) : null)
    list.hidden = !filters.length
  }

  return { el, dialog, render, open }
}
