// A tiny element builder. Text always goes in as text nodes, never as HTML: page paths,
// referrers and every other value the collector reports come from visitors' browsers.

export const h = (tag, attrs, ...children) => {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (k === 'class') el.className = v
    else if (k === 'style') Object.assign(el.style, v)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  append(el, children)
  return el
}

const append = (el, children) => {
  for (const c of children) {
    if (c == null || c === false) continue
    if (Array.isArray(c)) append(el, c)
    else el.append(c instanceof Node ? c : String(c))
  }
}

// Replaces the children of `el`.
export const fill = (el, ...children) => {
  el.replaceChildren()
  append(el, children)
  return el
}

let ids = 0
export const uid = (prefix) => `${prefix}-${++ids}`
