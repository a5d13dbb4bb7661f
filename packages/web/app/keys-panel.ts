import type { KeyInfo, KeySecret } from '@infra-lab/sdk'
import { lab } from './api.ts'
import { h, notice } from './dom.ts'

/** A comma-separated field as a list; empty: undefined (every user, every pool). */
function list(v: string): string[] | undefined {
  const items = v.split(',').map((s) => s.trim()).filter(Boolean)
  return items.length > 0 ? items : undefined
}

function positive(v: string): number | undefined {
  return v.trim() === '' ? undefined : Number(v)
}

function field(id: string, label: string, hint: string, attrs: Record<string, string | boolean> = {}): [HTMLElement, HTMLInputElement] {
  const input = h('input', { id, name: id, autocomplete: 'off', ...attrs })
  return [h('div', { class: 'field' }, h('label', { for: id }, label), input, h('small', {}, hint)), input]
}

/**
 * Scoped API keys, for the admin key only (the dashboard shows it when GET /v1/stats names the
 * caller admin): the list with revoke and rotate, and a form to create one. A new secret is
 * shown once, until dismissed: the gateway keeps only its hash.
 */
export function renderKeysPanel(): { readonly el: HTMLElement; refresh(): Promise<void> } {
  const messages = h('div', { 'aria-live': 'polite' })
  const tableEl = h('div', { class: 'table-wrap' })
  const [nameField, name] = field('key-name', 'Name', 'letters, digits, . _ -', { required: true, pattern: '[A-Za-z0-9._\\-]{1,64}' })
  const [usersField, users] = field('key-users', 'Users', 'comma-separated, one * each; empty: all')
  const [poolsField, pools] = field('key-pools', 'Pools', 'comma-separated; empty: all')
  const [maxField, maxSessions] = field('key-max-sessions', 'Max sessions', 'open at once; empty: no limit', { type: 'number', min: '1', inputmode: 'numeric' })
  const [rateField, createsPerMin] = field('key-creates-per-min', 'Creates / min', 'empty: no limit', { type: 'number', min: '1', inputmode: 'numeric' })
  const [expiresField, expiresAt] = field('key-expires-at', 'Expires', 'empty: never', { type: 'datetime-local' })
  const create = h('button', { type: 'submit' }, 'Create key')
  const form = h('form', { class: 'toolbar', 'aria-label': 'Create a key' }, nameField, usersField, poolsField, maxField, rateField, expiresField, create)
  const el = h('section', { class: 'card', 'aria-labelledby': 'keys-title' },
    h('h2', { id: 'keys-title' }, 'API keys'),
    h('p', { class: 'hint' }, 'Scoped keys see and act only on their users and pools, within their quotas. Only the admin key sees this.'),
    form, messages, tableEl)

  function showSecret(s: KeySecret, verb: string): void {
    const copy = h('button', { type: 'button', class: 'secondary', onclick: () => void navigator.clipboard?.writeText(s.key) }, 'Copy')
    const done = h('button', { type: 'button', class: 'secondary', onclick: () => messages.replaceChildren() }, 'Done')
    messages.replaceChildren(h('div', { class: 'notice info secret', role: 'status' },
      h('span', {}, `Key ${s.name} (${s.id}) ${verb}. Copy its secret now: it is not shown again.`),
      h('code', { 'aria-label': 'The new secret' }, s.key), copy, done))
  }

  function fail(err: unknown): void {
    messages.replaceChildren(notice('error', err instanceof Error ? err.message : String(err)))
  }

  async function act(button: HTMLButtonElement, question: string, fn: () => Promise<void>): Promise<void> {
    if (!confirm(question)) return
    button.disabled = true
    try {
      await fn()
      await refresh()
    } catch (err) {
      button.disabled = false
      fail(err)
    }
  }

  function row(k: KeyInfo): HTMLElement {
    const limits = [k.maxSessions !== undefined ? `${k.maxSessions} sessions` : '', k.createsPerMin !== undefined ? `${k.createsPerMin}/min` : ''].filter(Boolean).join(', ') || '–'
    const state = k.revokedAt ? `revoked ${k.revokedAt.slice(0, 10)}` : k.expiresAt && Date.parse(k.expiresAt) <= Date.now() ? 'expired' : 'active'
    const actions = k.revokedAt ? [] : [
      h('button', { type: 'button', class: 'secondary', 'aria-label': `Rotate the key ${k.name}`, onclick: (ev) => void act(ev.currentTarget as HTMLButtonElement, `Give ${k.name} a new secret? The old one stops working at once.`, async () => showSecret(await lab.rotateKey(k.id), 'rotated')) }, 'Rotate'),
      h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke the key ${k.name}`, onclick: (ev) => void act(ev.currentTarget as HTMLButtonElement, `Revoke ${k.name}? It is refused from now on; its sessions keep running.`, async () => { await lab.revokeKey(k.id) }) }, 'Revoke'),
    ]
    return h('tr', {},
      h('td', {}, k.name), h('td', {}, h('code', {}, k.id)), h('td', {}, k.users?.join(', ') ?? 'all'), h('td', {}, k.pools?.join(', ') ?? 'all'),
      h('td', {}, limits), h('td', {}, String(k.openSessions)), h('td', {}, k.createdAt.slice(0, 10)), h('td', {}, k.expiresAt?.slice(0, 16).replace('T', ' ') ?? 'never'),
      h('td', {}, state), h('td', { class: 'actions' }, ...actions))
  }

  let shown = ''
  async function refresh(): Promise<void> {
    const keys = await lab.keys()
    // Redrawn only when something changed: a redraw would take the focus from a button.
    const now = JSON.stringify(keys)
    if (now === shown) return
    shown = now
    tableEl.replaceChildren(keys.length === 0
      ? h('p', {}, 'No scoped keys yet.')
      : h('table', {},
        h('caption', { class: 'sr-only' }, 'Scoped API keys'),
        h('thead', {}, h('tr', {}, ...['Name', 'Id', 'Users', 'Pools', 'Limits', 'Open', 'Created', 'Expires', 'State', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, ...keys.map(row))))
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    create.disabled = true
    const u = list(users.value)
    const p = list(pools.value)
    const m = positive(maxSessions.value)
    const r = positive(createsPerMin.value)
    lab.createKey({
      name: name.value.trim(),
      ...(u ? { users: u } : {}), ...(p ? { pools: p } : {}), ...(m !== undefined ? { maxSessions: m } : {}), ...(r !== undefined ? { createsPerMin: r } : {}),
      ...(expiresAt.value ? { expiresAt: new Date(expiresAt.value).toISOString() } : {}),
    }).then(async (s) => {
      form.reset()
      showSecret(s, 'created')
      await refresh()
    }).catch(fail).finally(() => {
      create.disabled = false
    })
  })

  return { el, refresh }
}
