// Form capture (data-track="forms"): when a visitor submits a <form data-candor-form>, hand the
// inputs marked data-candor-field="email|name|company" to identify(), which sends them only
// with marketing consent. Unmarked, password and hidden inputs are never read.

const FIELD = /^(email|name|company)$/

export const forms = (identify, safe) =>
  addEventListener(
    'submit',
    safe((e) => {
      const f = e.target
      if (!f.hasAttribute('data-candor-form')) return
      const contact = {}
      let any
      for (const el of f.querySelectorAll('[data-candor-field]')) {
        const k = el.getAttribute('data-candor-field')
        const v = (el.value || '').trim()
        if (FIELD.test(k) && !/^(password|hidden)$/i.test(el.type) && v) contact[k] = any = v
      }
      any && identify(contact)
    }),
    true,
  )
