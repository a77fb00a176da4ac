// Preferences of this browser (localStorage), never part of a shared view: the last site
// opened, each panel's tab, the property keys used per site, "show all networks". Storage can
// be off (private windows, policies): then nothing is remembered and nothing breaks.

const PREFIX = 'candor.dashboard.'

export const recall = (key, fallback = null) => {
  try {
    const v = localStorage.getItem(PREFIX + key)
    return v == null ? fallback : JSON.parse(v)
  } catch {
    return fallback
  }
}

export const remember = (key, value) => {
  try {
    localStorage.setItem(PREFIX + key, JSON.stringify(value))
  } catch {
    // Nothing to do: the preference lasts as long as the page.
  }
}

// Property keys typed on this site, the latest first. The Stats API has no list of keys, so
// the dashboard remembers the ones its user has asked for.
export const propKeys = (site) => recall(`props.${site}`, []).filter((k) => typeof k === 'string' && k)
export const rememberPropKey = (site, key) => remember(`props.${site}`, [key, ...propKeys(site).filter((k) => k !== key)].slice(0, 20))
