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

export const query = (q) => api('/api/v2/query', { method: 'POST', body: q })
