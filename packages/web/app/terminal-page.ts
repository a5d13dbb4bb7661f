import { FitAddon } from '@xterm/addon-fit'
import { Terminal, type ITheme } from '@xterm/xterm'
import type { Session, Terminal as Pty } from '@infra-lab/sdk'
import { ApiFailure, lab, readable } from './api.ts'
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

  let pty: Pty | undefined
  let current: string | undefined
  term.onData((d) => pty?.write(d))
  term.onBinary((d) => pty?.write(Uint8Array.from(d, (c) => c.charCodeAt(0))))
  term.onResize(({ cols, rows }) => pty?.resize(cols, rows))

  const show = (...nodes: Node[]) => messages.replaceChildren(...nodes)

  function ended(text: string): void {
    endButton.disabled = true
    show(notice('ended', text, h('button', { type: 'button', onclick: () => form.requestSubmit() }, 'Start a new shell')))
  }

  const lost = (code: number, session: Session) =>
    show(notice('error', describeClose(code), h('button', { type: 'button', onclick: () => void reattach(session.id) }, 'Reconnect')))

  /** Opens the session's terminal (the SDK's PTY over the WebSocket) into the xterm. */
  async function connect(session: Session, timing: Timing | undefined): Promise<void> {
    pty?.close()
    pty = undefined
    current = session.id
    endButton.disabled = false
    fit.fit()
    let opened: Pty
    try {
      opened = await session.terminal({ cols: term.cols, rows: term.rows })
    } catch {
      // a browser does not say why a WebSocket failed to open
      if (current === session.id) lost(1006, session)
      return
    }
    if (current !== session.id) return opened.close()
    pty = opened
    term.focus()
    let first = true
    opened.onData((bytes) => {
      if (first && bytes.length > 0) {
        first = false
        if (timing) {
          const server = timing.claimMs !== undefined ? ` (claim ${formatMs(timing.claimMs)} in the gateway)` : ''
          status.textContent = `ready in ${formatMs(performance.now() - timing.t0)}, ${timing.warm ? 'warm' : 'cold'}${server} · ${session.id}`
        }
      }
      term.write(bytes)
    })
    opened.onExit((e) => ended(describeEnd(e.reason, e.code)))
    opened.onError((e) => show(notice('error', `The gateway did not understand a message: ${e.message || e.code}`)))
    opened.onClose((e) => {
      if (pty !== opened || opened.exit) return
      if (e.code === 1000) return ended(describeEnd(undefined))
      lost(e.code, session)
    })
  }

  async function reattach(id: string): Promise<void> {
    show(notice('info', `Re-attaching to ${id}…`))
    try {
      const s = await lab.session(id)
      if (s.info.state === 'ended') return ended(describeEnd(s.info.endedReason))
      show()
      term.reset()
      status.textContent = `re-attached to ${id} (${s.info.user}, pool ${s.info.pool}, ${s.info.warm ? 'warm' : 'cold'} start)`
      await connect(s, undefined)
    } catch (err) {
      const e = readable(err)
      if (e instanceof ApiFailure && e.code === 'session_ended') {
        const s = await lab.session(id).catch(() => undefined)
        ended(describeEnd(s?.info.endedReason))
      } else {
        show(notice('error', e instanceof Error ? e.message : String(e)))
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
        void connect(s, { t0, warm: s.info.warm, claimMs: s.info.timings.claimMs })
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
    current = undefined
    const open = pty
    pty = undefined
    open?.close()
    observer.disconnect()
    dark.removeEventListener('change', onScheme)
    term.dispose()
  }
}
