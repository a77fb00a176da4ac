// Form capture (data-track="forms"): when a visitor submits a <form data-candor-form>, hand the
// inputs marked data-candor-field="email|name|company" to identify(), which sends them only
// with marketing consent. Unmarked, password and hidden inputs are never read.

import { safe } from './safe.js'

const FIELD = /^(email|name|company)$/

export const forms = (identify) =>
  addEventListener(
    'submit',
    safe((e) => {
      const f = e.target
      if (!f.hasAttribute('data-candor-form')) return
      const contact = {}
      let any
      for (const el of f.querySelectorAll('[data-candor-field]')) {
        const k = el.getAttribute('data-candor-field')
        // The type is checked before the value is ever read.
        if (FIELD.test(k) && !/^(password|hidden)$/i.test(el.type)) {
          const v = (el.value || '').trim()
          if (v) contact[k] = any = v
        }
      }
      any && identify(contact)
    }),
    true,
  )
