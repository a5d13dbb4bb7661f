import { FitAddon } from '@xterm/addon-fit'
import { Terminal, type ITheme } from '@xterm/xterm'
import { ApiFailure, lab, terminalUrl, type Attach } from './api.ts'
import { cssVar, h, notice } from './dom.ts'
import { describeClose, describeEnd, formatMs, USER_PATTERN } from './messages.ts'

const USER_KEY = 'infra-lab.user'
const POOL_KEY = 'infra-lab.pool'

interface Timing { readonly t0: number; readonly warm: boolean; readonly claimMs?: number }

function theme(): ITheme {
  return { background: cssVar('--term-bg'), foreground: cssVar('--term-fg'), cursor: cssVar('--term-fg'), selectionBackground: cssVar('--term-sel') }
}

/**
 * The browser terminal. "New shell" creates a session and attaches an xterm over the
 * WebSocket contract (binary = terminal bytes, text = JSON control). With a session id
 * (#/terminal/<id>: a reload, or "Open" on the dashboard) it re-attaches with a fresh token
 * and the scrollback.
 */
export function renderTerminal(main: HTMLElement, sessionId: string | undefined): () => void {
  const user = h('input', { id: 'user', name: 'user', required: true, pattern: USER_PATTERN, maxlength: 64, autocomplete: 'username', value: sessionStorage.getItem(USER_KEY) ?? 'alice', 'aria-describedby': 'user-hint' })
  const pool = h('select', { id: 'pool', name: 'pool' }, h('option', { value: sessionStorage.getItem(POOL_KEY) ?? 'default' }, sessionStorage.getItem(POOL_KEY) ?? 'default'))
  const newShell = h('button', { type: 'submit' }, 'New shell')
  const endButton = h('button', { type: 'button', class: 'secondary', disabled: true }, 'End session')
  const form = h('form', { class: 'toolbar', 'aria-label': 'New shell' },
    h('div', { class: 'field' }, h('label', { for: 'user' }, 'User'), user, h('small', { id: 'user-hint' }, 'letters, digits, . _ -')),
    h('div', { class: 'field' }, h('label', { for: 'pool' }, 'Pool'), pool),
    newShell, endButton)
  const messages = h('div', { id: 'term-messages' })
  const host = h('div', { id: 'terminal', class: 'term-host', role: 'region', 'aria-label': 'Terminal' })
  const status = h('p', { id: 'term-status', class: 'status', role: 'status' })
  const hint = h('p', { class: 'hint' }, 'Keyboard: the terminal keeps Tab for the shell; press Escape, then Tab, to move on.')
  main.append(h('h1', { class: 'sr-only' }, 'Terminal'), form, messages, host, status, hint)

  const term = new Terminal({ theme: theme(), fontSize: 14, fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, monospace', cursorBlink: true, scrollback: 5000 })
  const fit = new FitAddon()
  term.loadAddon(fit)
  term.open(host)
  fit.fit()
  const dark = matchMedia('(prefers-color-scheme: dark)')
  const onScheme = () => (term.options.theme = theme())
  dark.addEventListener('change', onScheme)
  const observer = new ResizeObserver(() => fit.fit())
  observer.observe(host)
  // Tab belongs to the shell; Escape then Tab leaves the terminal (keyboard users are not trapped).
  let escapeArmed = false
  term.attachCustomKeyEventHandler((ev) => {
    if (ev.type !== 'keydown') return true
    if (ev.key === 'Tab' && escapeArmed) {
      escapeArmed = false
      return false
    }
    escapeArmed = ev.key === 'Escape'
    return true
  })

  let ws: WebSocket | undefined
  let current: string | undefined
  const encoder = new TextEncoder()
  term.onData((d) => ws?.readyState === WebSocket.OPEN && ws.send(encoder.encode(d)))
  term.onBinary((d) => ws?.readyState === WebSocket.OPEN && ws.send(Uint8Array.from(d, (c) => c.charCodeAt(0))))
  term.onResize(({ cols, rows }) => ws?.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'resize', cols, rows })))

  const show = (...nodes: Node[]) => messages.replaceChildren(...nodes)

  function ended(text: string): void {
    endButton.disabled = true
    show(notice('ended', text, h('button', { type: 'button', onclick: () => form.requestSubmit() }, 'Start a new shell')))
  }

  function connect(id: string, attach: Attach, timing: Timing | undefined): void {
    ws?.close()
    current = id
    endButton.disabled = false
    const sock = new WebSocket(terminalUrl(attach))
    ws = sock
    sock.binaryType = 'arraybuffer'
    let first = true
    let exited = false
    sock.onopen = () => {
      fit.fit()
      sock.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }))
      term.focus()
    }
    sock.onmessage = (ev: MessageEvent<ArrayBuffer | string>) => {
      if (typeof ev.data !== 'string') {
        const bytes = new Uint8Array(ev.data)
        if (first && bytes.length > 0) {
          first = false
          if (timing) {
            const server = timing.claimMs !== undefined ? ` (claim ${formatMs(timing.claimMs)} in the gateway)` : ''
            status.textContent = `ready in ${formatMs(performance.now() - timing.t0)}, ${timing.warm ? 'warm' : 'cold'}${server} · ${id}`
          }
        }
        term.write(bytes)
        return
      }
      let msg: { type?: string; reason?: string; code?: number | null; message?: string }
      try {
        msg = JSON.parse(ev.data)
      } catch {
        return
      }
      if (msg.type === 'exit') {
        exited = true
        ended(describeEnd(msg.reason, msg.code))
      } else if (msg.type === 'error') {
        show(notice('error', `The gateway did not understand a message: ${msg.message ?? msg.code}`))
      }
    }
    sock.onclose = (ev) => {
      if (ws !== sock || exited) return
      if (ev.code === 1000) return ended(describeEnd(undefined))
      show(notice('error', describeClose(ev.code), h('button', { type: 'button', onclick: () => void reattach(id) }, 'Reconnect')))
    }
  }

  async function reattach(id: string): Promise<void> {
    show(notice('info', `Re-attaching to ${id}…`))
    try {
      const attach = await lab.attach(id)
      show()
      term.reset()
      const s = await lab.session(id).catch(() => undefined)
      status.textContent = s ? `re-attached to ${id} (${s.user}, pool ${s.pool}, ${s.warm ? 'warm' : 'cold'} start)` : `re-attached to ${id}`
      connect(id, attach, undefined)
    } catch (err) {
      if (err instanceof ApiFailure && err.code === 'session_ended') {
        const s = await lab.session(id).catch(() => undefined)
        ended(describeEnd(s?.endedReason))
      } else {
        show(notice('error', err instanceof Error ? err.message : String(err)))
      }
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault()
    if (!user.reportValidity()) return
    sessionStorage.setItem(USER_KEY, user.value)
    sessionStorage.setItem(POOL_KEY, pool.value)
    newShell.disabled = true
    show(notice('info', 'Starting a shell…'))
    status.textContent = ''
    const t0 = performance.now()
    lab.createSession(user.value, pool.value).then(
      (s) => {
        newShell.disabled = false
        show()
        term.reset()
        history.replaceState(null, '', `#/terminal/${encodeURIComponent(s.id)}`)
        connect(s.id, s.attach, { t0, warm: s.warm, claimMs: s.timings.claimMs })
      },
      (err: unknown) => {
        newShell.disabled = false
        show(notice('error', err instanceof Error ? err.message : String(err)))
      },
    )
  })

  endButton.addEventListener('click', () => {
    if (!current) return
    const id = current
    endButton.disabled = true
    lab.terminate(id).catch((err: unknown) => show(notice('error', err instanceof Error ? err.message : String(err))))
  })

  lab.pools().then(
    (pools) => {
      const chosen = pool.value
      pool.replaceChildren(...pools.map((p) => h('option', { value: p.name, selected: p.name === chosen }, `${p.name} (${p.status.ready} ready)`)))
    },
    (err: unknown) => show(notice('error', err instanceof Error ? err.message : String(err))),
  )
  if (sessionId) void reattach(sessionId)
  else newShell.focus()

  return () => {
    if (ws) ws.onclose = null
    ws?.close()
    observer.disconnect()
    dark.removeEventListener('change', onScheme)
    term.dispose()
  }
}
