import { ApiFailure, apiKey, lab, type EndedReasonStats, type PoolStats, type Stats } from './api.ts'
import { endedChart, latencyChart, poolChart, type Chart } from './charts.ts'
import { h, notice } from './dom.ts'
import { renderKeysPanel } from './keys-panel.ts'
import type { LiveState } from './live-events.ts'
import { formatAge } from './messages.ts'
import { endedSummary, quotasView } from './quotas-panel.ts'

interface PoolCard { readonly el: HTMLElement; readonly now: HTMLElement; readonly error: HTMLElement; readonly chartEls: [HTMLElement, HTMLElement]; charts: Chart[] }

/**
 * Live pool charts, claim latency, warm hit rate, quotas in use, ended reasons over the last day,
 * failures, the active sessions, and (for the admin key) the API keys. It polls GET /v1/stats,
 * and refreshes at once on each event of GET /v1/events where the gateway has them.
 */
export function renderDashboard(main: HTMLElement): () => void {
  const updated = h('p', { class: 'status' }, 'Loading…')
  const messages = h('div', {})
  const poolsEl = h('div', { class: 'pools' })
  const failuresEl = h('div', {})
  const sessionsEl = h('div', { class: 'table-wrap' })
  const quotasEl = h('div', {})
  const endedEl = h('div', { class: 'chart' })
  const endedText = h('p', { class: 'hint' })
  const keysSlot = h('div', {})
  main.append(
    h('h1', {}, 'Dashboard'), updated, messages,
    poolsEl,
    h('div', { class: 'pools' },
      h('section', { class: 'card', 'aria-labelledby': 'quotas-title' }, h('h2', { id: 'quotas-title' }, 'Quotas in use'), quotasEl),
      h('section', { class: 'card', 'aria-labelledby': 'ended-title' }, h('h2', { id: 'ended-title' }, 'Ended sessions'),
        h('figure', {}, h('figcaption', {}, 'Sessions ended per hour over the last day, by reason'), endedEl), endedText)),
    h('section', { class: 'card', 'aria-labelledby': 'sessions-title' }, h('h2', { id: 'sessions-title' }, 'Active sessions'), sessionsEl),
    keysSlot,
    h('section', { class: 'card', 'aria-labelledby': 'failures-title' }, h('h2', { id: 'failures-title' }, 'Sandbox failures'), failuresEl),
  )
  let ended: Chart<EndedReasonStats> = endedChart(endedEl)
  let keysPanel: ReturnType<typeof renderKeysPanel> | undefined
  let live: LiveState = 'connecting'
  let stopEvents: (() => void) | undefined
  let soon: ReturnType<typeof setTimeout> | undefined
  const cards = new Map<string, PoolCard>()
  let last: Stats | undefined
  // Chart colours come from CSS variables: rebuild the charts when the colour scheme changes.
  const dark = matchMedia('(prefers-color-scheme: dark)')
  const onScheme = () => {
    for (const c of cards.values()) {
      for (const ch of c.charts) ch.destroy()
      c.charts = [poolChart(c.chartEls[0]), latencyChart(c.chartEls[1])]
      const p = last?.pools.find((x) => `pool-${x.name}` === c.el.getAttribute('aria-labelledby'))
      if (p) for (const ch of c.charts) ch.update(p)
    }
    ended.destroy()
    ended = endedChart(endedEl)
    if (last) ended.update(last.endedReasons)
  }
  dark.addEventListener('change', onScheme)
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false

  function poolCard(name: string): PoolCard {
    let card = cards.get(name)
    if (card) return card
    const id = `pool-${name}`
    const now = h('dl', { class: 'figures' })
    const error = h('div', {})
    const lineEl = h('div', { class: 'chart' })
    const histEl = h('div', { class: 'chart' })
    const el = h('section', { class: 'card', 'aria-labelledby': id },
      h('h2', { id }, `Pool ${name}`), now, error,
      h('figure', {}, h('figcaption', {}, 'Sandboxes over time: ready, starting, claimed, and the target (dashed)'), lineEl),
      h('figure', {}, h('figcaption', {}, 'Claim latency, warm vs cold (claims per bucket)'), histEl))
    poolsEl.append(el)
    card = { el, now, error, chartEls: [lineEl, histEl], charts: [poolChart(lineEl), latencyChart(histEl)] }
    cards.set(name, card)
    return card
  }

  function figures(p: PoolStats): Node[] {
    const last = (a: number[]) => a[a.length - 1] ?? 0
    const rate = p.claims.warmHitRate === null ? '–' : `${(p.claims.warmHitRate * 100).toFixed(1)} %`
    const pairs: [string, string][] = [
      ['ready', String(last(p.series.ready))], ['starting', String(last(p.series.starting))],
      ['claimed', String(last(p.series.claimed))], ['target', String(last(p.series.target))],
      ['warm hit rate', rate], ['claims', `${p.claims.warm} warm · ${p.claims.cold} cold · ${p.claims.rejected} rejected`],
    ]
    return pairs.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))
  }

  function sessionsTable(s: Stats): Node {
    if (s.sessions.length === 0) return h('p', {}, 'No active sessions.')
    const rows = s.sessions.map((x) => h('tr', {},
      h('td', {}, h('code', {}, x.id)), h('td', {}, x.user), h('td', {}, x.pool), h('td', {}, `${x.state}${x.warm ? '' : ' (cold)'}`),
      h('td', {}, formatAge(x.ageS)), h('td', {}, x.idleS === undefined ? '–' : formatAge(x.idleS)),
      h('td', { class: 'actions' },
        h('a', { href: `#/terminal/${encodeURIComponent(x.id)}`, 'aria-label': `Open the terminal of ${x.user} (${x.id})` }, 'Open'),
        h('button', { type: 'button', class: 'danger', 'aria-label': `Terminate the session of ${x.user} (${x.id})`, onclick: (ev) => terminate(x.id, ev.currentTarget as HTMLButtonElement) }, 'Terminate'))))
    return h('table', {},
      h('caption', { class: 'sr-only' }, 'Sessions that have not ended'),
      h('thead', {}, h('tr', {}, ...['Session', 'User', 'Pool', 'State', 'Age', 'Idle', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, ...rows))
  }

  function failuresTable(s: Stats): Node {
    if (s.failures.length === 0) return h('p', {}, 'No sandbox failures since the gateway started.')
    return h('table', {},
      h('thead', {}, h('tr', {}, ...['Driver', 'Reason', 'Count'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, ...s.failures.map((f) => h('tr', {}, h('td', {}, f.driver), h('td', {}, f.reason), h('td', {}, String(f.count))))))
  }

  function terminate(id: string, button: HTMLButtonElement): void {
    button.disabled = true
    lab.terminate(id).then(
      () => {
        messages.replaceChildren(notice('info', `Session ${id} terminated.`))
        void refresh()
      },
      (err: unknown) => {
        button.disabled = false
        messages.replaceChildren(notice('error', err instanceof Error ? err.message : String(err)))
      },
    )
  }

  async function refresh(): Promise<void> {
    if (timer) clearTimeout(timer)
    let interval = 2000
    try {
      const s = await lab.stats()
      if (stopped) return
      last = s
      interval = s.intervalMs
      for (const p of s.pools) {
        const card = poolCard(p.name)
        card.now.replaceChildren(...figures(p))
        card.error.replaceChildren(...(p.lastError ? [notice('error', `This pool cannot start sandboxes: ${p.lastError}`)] : []))
        for (const c of card.charts) c.update(p)
      }
      sessionsEl.replaceChildren(sessionsTable(s))
      failuresEl.replaceChildren(failuresTable(s))
      quotasEl.replaceChildren(quotasView(s.quotas, s.caller.admin))
      ended.update(s.endedReasons)
      endedText.textContent = endedSummary(s.endedReasons)
      if (s.caller.admin && !keysPanel) {
        keysPanel = renderKeysPanel()
        keysSlot.replaceChildren(keysPanel.el)
      }
      // (its open-session counts move with every create and end)
      if (keysPanel) await keysPanel.refresh()
      stopEvents ??= lab.follow({ onEvent: refreshSoon, onState: (st) => { live = st } })
      updated.textContent = `Updated ${new Date().toLocaleTimeString()}, every ${s.intervalMs / 1000} s${live === 'live' ? ', and live on every event' : ''}.`
      if (messages.querySelector('.error')) messages.replaceChildren()
    } catch (err) {
      if (stopped) return
      const signIn = err instanceof ApiFailure && err.status === 401
        ? [h('button', { type: 'button', onclick: () => { apiKey.clear(); location.hash = '#/'; location.reload() } }, 'Sign in again')]
        : []
      messages.replaceChildren(notice('error', err instanceof Error ? err.message : String(err), ...signIn))
    }
    // (an event's refresh may overlap the timer's: one timer stays)
    if (timer) clearTimeout(timer)
    if (!stopped) timer = setTimeout(() => void refresh(), interval)
  }

  /** Many events at once (a burst of creates) make one refresh. */
  function refreshSoon(): void {
    soon ??= setTimeout(() => {
      soon = undefined
      if (!stopped) void refresh()
    }, 250)
  }

  void refresh()
  return () => {
    stopped = true
    stopEvents?.()
    if (soon) clearTimeout(soon)
    ended.destroy()
    if (timer) clearTimeout(timer)
    dark.removeEventListener('change', onScheme)
    for (const c of cards.values()) for (const ch of c.charts) ch.destroy()
  }
}
