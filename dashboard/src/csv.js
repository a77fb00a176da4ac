// CSV export of one breakdown, downloaded from a Blob (nothing leaves the browser).

// RFC 4180 quoting. Text that a spreadsheet would run as a formula (=, +, -, @ first) gets a
// leading apostrophe: referrers and page paths are whatever visitors' browsers sent.
export const csvCell = (v) => {
  if (typeof v === 'number') return String(v)
  let s = v == null ? '' : String(v)
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

export const toCsv = (header, rows) => [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n'

export const download = (fileName, text) => {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }))
  const a = document.createElement('a')
  a.href = url
  a.download = fileName
  a.hidden = true
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 60000)
}

// `visit:utm_source` → `utm_source.csv`, `event:props:plan` → `props_plan.csv`.
export const csvFileName = (dimension) =>
  dimension.replace(/^(event|visit):/, '').replace(/[^\w.-]+/g, '_') + '.csv'
