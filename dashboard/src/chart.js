// The time series: one uPlot line that stops at the current bucket (drawn dashed while it is
// still filling), the previous period as a lighter line, a tooltip that follows the pointer
// (or a tap), and the same numbers as a table for screen readers.
//
// The x axis counts buckets (0, 1, 2, …) rather than seconds: every bucket gets the same width
// (a month is a month), the previous period lines up bucket by bucket, and the ticks fall on
// buckets, never between them.

import uPlot from 'uplot'
import { h, fill } from './dom.js'
import { axisValue, longLabel, METRIC_LABELS, metricValue, tickLabel } from './format.js'

const HEIGHT = 260
const UNIT = { 'time:hour': 'Hour', 'time:day': 'Day', 'time:week': 'Week', 'time:month': 'Month' }
const COUNTS = new Set(['visitors', 'visits', 'pageviews', 'events', 'leads'])
// Tick every k buckets, k from this list, as few as fit.
const STEPS = {
  'time:hour': [1, 2, 3, 4, 6, 12, 24, 48],
  'time:day': [1, 2, 7, 14, 28, 56, 91, 182],
  'time:week': [1, 2, 4, 8, 13, 26, 52],
  'time:month': [1, 2, 3, 6, 12, 24, 60],
}

const cssVar = (name, fallback) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback

// `el` is the chart's container; returns render(series) and destroy().
export const createChart = (el) => {
  const plotBox = h('div', { class: 'plot', 'aria-hidden': 'true' })
  const tip = h('div', { class: 'chart-tip', 'aria-hidden': 'true', hidden: true })
  const legend = h('p', { class: 'chart-legend' })
  // A table ignores the width that hides it, so the wrapper is what the screen reader finds.
  const table = h('table', { class: 'chart-data' })
  fill(el, plotBox, tip, legend, h('div', { class: 'sr-only' }, table))
  let plot = null
  let last = null

  const width = () => Math.max(200, plotBox.clientWidth || el.clientWidth || 600)

  const showTip = (u) => {
    const i = u.cursor.idx
    if (i == null || !last || i >= last.labels.length) {
      tip.hidden = true
      return
    }
    const { labels, values, metric, interval, partial, previous } = last
    const unfinished = partial && i === labels.length - 1
    fill(tip,
      h('strong', {}, longLabel(interval, labels[i])),
      h('span', {}, `${last.label}: ${metricValue(metric, values[i])}${unfinished ? ' (so far)' : ''}`),
      previous && i < previous.labels.length
        ? h('span', { class: 'tip-prev' }, `${longLabel(interval, previous.labels[i])}: ${metricValue(metric, previous.values[i])}`)
        : null)
    tip.hidden = false
    const box = el.getBoundingClientRect()
    const over = u.over.getBoundingClientRect()
    const x = over.left - box.left + u.valToPos(i, 'x')
    const w = tip.offsetWidth
    tip.style.left = `${Math.max(0, Math.min(box.width - w, x - w / 2))}px`
    tip.style.top = `${over.top - box.top + 4}px`
  }

  const draw = () => {
    if (!last) return
    const { labels, values, metric, interval, partial, previous } = last
    plot?.destroy()
    const fg = cssVar('--muted', '#555')
    const grid = cssVar('--grid', 'rgba(0,0,0,.08)')
    const accent = cssVar('--accent', '#4338ca')
    const prevColour = cssVar('--previous', '#9aa3b2')
    const n = labels.length
    const xs = labels.map((_, i) => i)
    // The finished buckets solid; the unfinished last one joined to them by a dashed segment.
    const done = values.map((v, i) => (partial && i === n - 1 ? null : v))
    const part = values.map((v, i) => (partial && i >= n - 2 ? v : null))
    const prev = previous ? xs.map((i) => (i < previous.values.length ? previous.values[i] : null)) : null
    const steps = STEPS[interval] || STEPS['time:day']
    const splits = () => {
      const fit = Math.max(2, Math.floor(width() / 80))
      const k = steps.find((s) => Math.ceil(n / s) <= fit) || Math.ceil(n / fit)
      return xs.filter((i) => i % k === 0)
    }
    const line = { width: 2, points: { show: n <= 31, size: 5 }, value: (u, v) => metricValue(metric, v) }
    plot = new uPlot(
      {
        width: width(),
        height: HEIGHT,
        legend: { show: false },
        cursor: { y: false, points: { size: 7 }, drag: { x: false, y: false } },
        scales: {
          x: { time: false, range: () => (n > 1 ? [0, n - 1] : [-0.5, 0.5]) },
          y: {
            range: (u, min, max) => {
              const top = Math.max(max || 0, ...(prev || []).map((v) => Number(v) || 0))
              return [0, top > 0 ? (COUNTS.has(metric) ? Math.max(4, Math.ceil(top * 1.15)) : top * 1.15) : 1]
            },
          },
        },
        series: [
          {},
          ...(prev ? [{ label: 'Compared with', stroke: prevColour, width: 1.5, points: { show: false }, value: line.value }] : []),
          { ...line, label: last.label, stroke: accent, fill: accent + '22' },
          { ...line, label: `${last.label} (unfinished)`, stroke: accent, dash: [6, 5], fill: accent + '11' },
        ],
        axes: [
          {
            stroke: fg,
            grid: { stroke: grid, width: 1 },
            ticks: { show: false },
            splits,
            values: (u, ticks) => {
              // Hours over several days: midnight ticks name the day.
              const days = interval === 'time:hour' && n > 24
              const out = ticks.map((i) => (labels[i] == null ? ''
                : tickLabel(days && /00:00(:00)?$/.test(labels[i]) ? 'time:day' : interval, labels[i])))
              plotBox.dataset.ticks = JSON.stringify(out) // what the axis reads, for tests
              return out
            },
          },
          {
            stroke: fg,
            grid: { stroke: grid, width: 1 },
            ticks: { show: false },
            size: 56,
            incrs: COUNTS.has(metric) ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8] : undefined,
            values: (u, ticks) => ticks.map((t) => axisValue(metric, t)),
          },
        ],
        hooks: { setCursor: [showTip] },
      },
      [xs, ...(prev ? [prev] : []), done, part],
      plotBox,
    )
    plot.over.addEventListener('mouseleave', () => (tip.hidden = true))
  }

  // `partial`: the last bucket is still filling. `previous`: { labels, values, text } of the
  // period compared with, or null.
  // `label`: what the metric is called on its tile (Unique conversions under a goal filter).
  const render = ({ labels, values, metric, interval, partial = false, previous = null, label = null }) => {
    last = { labels, values, metric, interval, partial: partial && labels.length > 0, previous, label: label || METRIC_LABELS[metric] }
    const name = last.label
    fill(legend,
      h('span', { class: 'key now' }, 'This period'),
      last.partial ? h('span', { class: 'key partial' }, `${longLabel(interval, labels[labels.length - 1])} so far`) : null,
      previous ? h('span', { class: 'key prev' }, `${previous.name || 'Previous'}: ${previous.text}`) : null)
    fill(table,
      h('caption', {}, `${name} per ${UNIT[interval].toLowerCase()}`),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col' }, UNIT[interval]),
        h('th', { scope: 'col' }, name),
        previous ? h('th', { scope: 'col' }, `Compared with (${previous.text})`) : null)),
      h('tbody', {}, labels.map((l, i) =>
        h('tr', {},
          h('th', { scope: 'row' }, longLabel(interval, l), last.partial && i === labels.length - 1 ? ' (so far)' : ''),
          h('td', { 'data-value': values[i] }, metricValue(metric, values[i])),
          previous ? h('td', { class: 'prev' }, i < previous.values.length ? metricValue(metric, previous.values[i]) : '—') : null),
      )),
    )
    tip.hidden = true
    draw()
  }

  // Follow the container's width and the colour scheme.
  let frame = 0
  const resize = () => {
    cancelAnimationFrame(frame)
    frame = requestAnimationFrame(() => plot?.setSize({ width: width(), height: HEIGHT }))
  }
  const observer = typeof ResizeObserver === 'function' ? new ResizeObserver(resize) : null
  observer?.observe(plotBox)
  const scheme = matchMedia('(prefers-color-scheme: dark)')
  scheme.addEventListener?.('change', draw)

  const destroy = () => {
    observer?.disconnect()
    scheme.removeEventListener?.('change', draw)
    cancelAnimationFrame(frame)
    plot?.destroy()
    plot = null
  }

  return { render, destroy }
}
