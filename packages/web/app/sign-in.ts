import { apiKey, ApiFailure, lab } from './api.ts'
import { h, notice } from './dom.ts'

/** Sign-in: the key is checked against GET /v1/pools, then kept in session storage. */
export function renderSignIn(main: HTMLElement, done: () => void): () => void {
  const input = h('input', { id: 'api-key', name: 'api-key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' })
  const msg = h('div', { 'aria-live': 'polite' })
  const button = h('button', { type: 'submit' }, 'Sign in')
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in'),
    h('p', {}, 'Paste the API key the gateway printed when it started (', h('code', {}, 'npm start'), '). It stays in this tab only.'),
    h('label', { for: 'api-key' }, 'API key'),
    input,
    button,
    msg,
  )
  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    const key = input.value.trim()
    button.disabled = true
    msg.replaceChildren(notice('info', 'Checking the key…'))
    lab.pools(key).then(
      () => {
        apiKey.set(key)
        done()
      },
      (err: unknown) => {
        button.disabled = false
        msg.replaceChildren(notice('error', err instanceof ApiFailure ? err.message : String(err)))
        input.select()
      },
    )
  })
  main.append(form)
  input.focus()
  return () => undefined
}
