// The time series: one uPlot line, plus the same numbers as a table for screen readers.

import uPlot from 'uplot'
import { h, fill } from './dom.js'
import { axisValue, bucketLabel, bucketSeconds, METRIC_LABELS, metricValue } from './format.js'

const HEIGHT = 260
const UNIT = { 'time:hour': 'Hour', 'time:day': 'Day', 'time:week': 'Week', 'time:month': 'Month' }
const COUNTS = new Set(['visitors', 'visits', 'pageviews', 'events', 'leads'])

const cssVar = (name, fallback) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback

// `el` is the chart's container; returns render(series) and destroy().
export const createChart = (el) => {
  const plotBox = h('div', { class: 'plot', 'aria-hidden': 'true' })
  const table = h('table', { class: 'sr-only chart-data' })
  fill(el, plotBox, table)
  let plot = null
  let last = null

  const width = () => Math.max(200, plotBox.clientWidth || el.clientWidth || 600)

  const draw = () => {
    if (!last) return
    const { labels, values, metric, interval } = last
    plot?.destroy()
    const fg = cssVar('--muted', '#555')
    const grid = cssVar('--grid', 'rgba(0,0,0,.08)')
    const accent = cssVar('--accent', '#4338ca')
    const xs = labels.map(bucketSeconds)
    plot = new uPlot(
      {
        width: width(),
        height: HEIGHT,
        // Bucket labels are the site's local time, read as UTC: show them as UTC, unchanged.
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
        legend: { show: false },
        cursor: { y: false, points: { size: 7 } },
        scales: {
          x: { time: true },
          y: { range: (u, min, max) => [0, max > 0 ? (COUNTS.has(metric) ? Math.max(4, Math.ceil(max * 1.15)) : max * 1.15) : 1] },
        },
        series: [
          { value: (u, v) => (v == null ? '' : bucketLabel(interval, labels[xs.indexOf(v)] || '')) },
          {
            label: METRIC_LABELS[metric],
            stroke: accent,
            fill: accent + '22',
            width: 2,
            points: { show: xs.length <= 31, size: 5 },
            value: (u, v) => metricValue(metric, v),
          },
        ],
        axes: [
          { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { show: false } },
          {
            stroke: fg,
            grid: { stroke: grid, width: 1 },
            ticks: { show: false },
            size: 56,
            incrs: COUNTS.has(metric) ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8] : undefined,
            values: (u, ticks) => ticks.map((t) => axisValue(metric, t)),
          },
        ],
      },
      [xs, values],
      plotBox,
    )
  }

  const render = ({ labels, values, metric, interval }) => {
    last = { labels, values, metric, interval }
    const name = METRIC_LABELS[metric]
    fill(table,
      h('caption', {}, `${name} per ${UNIT[interval].toLowerCase()}`),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, UNIT[interval]), h('th', { scope: 'col' }, name))),
      h('tbody', {}, labels.map((l, i) =>
        h('tr', {}, h('th', { scope: 'row' }, bucketLabel(interval, l)), h('td', { 'data-value': values[i] }, metricValue(metric, values[i]))),
      )),
    )
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
