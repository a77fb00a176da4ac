// The sign-in screen: an API token with the stats:read scope, or a site domain and its
// dashboard password. Both end in the same cookie session.

import { api } from './api.js'
import { h } from './dom.js'

const field = (id, label, attrs, errorId) => [
  h('label', { for: id }, label),
  h('input', { id, name: id, required: true, 'aria-describedby': errorId, ...attrs }),
]

const form = ({ id, title, hint, fields, submit, wrong }, onSignedIn) => {
  const errorId = `${id}-error`
  const error = h('p', { id: errorId, class: 'error', role: 'alert' })
  const button = h('button', { type: 'submit' }, 'Sign in')
  const el = h('form', { id, class: 'signin-form', 'aria-labelledby': `${id}-h` },
    h('h2', { id: `${id}-h` }, title),
    h('p', { class: 'hint' }, hint),
    fields.map(([fid, label, attrs]) => field(fid, label, attrs, errorId)),
    button,
    error,
  )
  el.addEventListener('submit', async (e) => {
    e.preventDefault()
    const values = Object.fromEntries(fields.map(([fid]) => [fid, el.elements[fid].value.trim()]))
    error.textContent = ''
    button.disabled = true
    el.setAttribute('aria-busy', 'true')
    try {
      const session = await api('/api/dashboard/login', { method: 'POST', body: submit(values) })
      onSignedIn(session)
    } catch (err) {
      error.textContent = err.status === 401 ? wrong : `Sign-in failed: ${err.message}`
      const bad = fields.find(([fid]) => fid === err.field) || fields[fields.length - 1]
      el.elements[bad[0]].setAttribute('aria-invalid', 'true')
      el.elements[bad[0]].select?.()
      el.elements[bad[0]].focus()
    } finally {
      button.disabled = false
      el.removeAttribute('aria-busy')
    }
  })
  el.addEventListener('input', (e) => e.target.removeAttribute?.('aria-invalid'))
  return el
}

// Renders into `root`; `site` pre-fills the domain (from a shared link); `notice` explains
// why the screen is shown (a failed session check, a session that ended).
export const showSignIn = (root, { site = '', notice = '' }, onSignedIn) => {
  const tokenForm = form({
    id: 'token-form',
    title: 'With an API token',
    hint: 'A token with the stats:read scope (candor tokens create); with leads:read too, it also shows People.',
    fields: [['token', 'API token', { type: 'password', autocomplete: 'off', spellcheck: 'false' }]],
    submit: ({ token }) => ({ token }),
    wrong: 'That token was not accepted. Check that it is complete, not revoked and has the stats:read scope.',
  }, onSignedIn)
  const passwordForm = form({
    id: 'password-form',
    title: 'With a site password',
    hint: 'The dashboard password set for the site.',
    fields: [
      ['site', 'Site domain', { type: 'text', autocomplete: 'username', inputmode: 'url', placeholder: 'example.com', value: site, spellcheck: 'false', autocapitalize: 'off' }],
      ['password', 'Dashboard password', { type: 'password', autocomplete: 'current-password' }],
    ],
    submit: ({ site, password }) => ({ site, password }),
    wrong: 'Wrong site or password.',
  }, onSignedIn)

  root.replaceChildren(
    h('main', { class: 'signin', id: 'main' },
      h('h1', {}, 'Candor'),
      h('p', { class: 'lead' }, 'Sign in to see your site’s statistics.'),
      notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
      h('div', { class: 'signin-forms' }, tokenForm, passwordForm),
    ),
  )
  document.title = 'Sign in · Candor'
  tokenForm.elements.token.focus()
}
