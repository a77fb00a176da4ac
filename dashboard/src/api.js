// Calls to the collector: same origin, cookie session. Every failure becomes an ApiError
// with a message a person can read; nothing here throws anything else.

// The collector serves the dashboard at <base>/dashboard/, and its API at <base>/api/.
const base = location.pathname.replace(/\/dashboard(\/.*)?$/, '')

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message)
    this.status = status
    this.field = field ?? null
  }
}

export const api = async (path, { method = 'GET', body } = {}) => {
  let res
  try {
    res = await fetch(base + path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch {
    throw new ApiError(0, 'The server could not be reached.')
  }
  let text = ''
  try {
    text = await res.text()
  } catch {
    throw new ApiError(res.status, 'The answer was cut off.')
  }
  let data = null
  if (text) {
    try {
      data = JSON.parse(text)
    } catch {
      if (res.ok) throw new ApiError(res.status, 'The server answered with something other than JSON.')
    }
  }
  if (!res.ok) {
    const message = data && typeof data.error === 'string' ? data.error : `The server answered ${res.status}${res.statusText ? ' ' + res.statusText : ''}.`
    throw new ApiError(res.status, message, data && data.field)
  }
  return data
}

// Report queries asked for in the same tick (a view's tiles, chart and panels) go out together
// as POST /api/v2/query/batch, at most BATCH a request: the server runs what they share once.
// Each caller still gets its own answer, or its own ApiError with the field as /api/v2/query
// names it; a batch that fails as a whole fails every query in it.
const BATCH = 50
let waiting = null

export const query = (q) => new Promise((resolve, reject) => {
  if (!waiting) {
    waiting = []
    queueMicrotask(flush)
  }
  waiting.push({ q, resolve, reject })
})

const flush = () => {
  const calls = waiting
  waiting = null
  for (let i = 0; i < calls.length; i += BATCH) send(calls.slice(i, i + BATCH))
}

const send = async (calls) => {
  if (calls.length === 1) {
    const [{ q, resolve, reject }] = calls
    return api('/api/v2/query', { method: 'POST', body: q }).then(resolve, reject)
  }
  let results
  try {
    results = (await api('/api/v2/query/batch', { method: 'POST', body: { queries: calls.map((c) => c.q) } }))?.results
    if (!Array.isArray(results) || results.length !== calls.length) throw new ApiError(200, 'The server answered with something other than the reports asked for.')
  } catch (e) {
    for (const c of calls) c.reject(e)
    return
  }
  calls.forEach((c, i) => {
    const { status = 0, body } = results[i] || {}
    if (status === 200) return c.resolve(body)
    const field = typeof body?.field === 'string' ? body.field.replace(/^queries\[\d+\]\.?/, '') : ''
    c.reject(new ApiError(status, typeof body?.error === 'string' ? body.error : `The server answered ${status}.`, field || null))
  })
}
