import type { EndedReasonStats, QuotaStats } from './api.ts'
import { h } from './dom.ts'

/** One quota: what is used of it over a bar (a meter, so assistive technology reads the figures), or the count alone when unlimited. */
function bar(label: string, used: number, max: number | undefined, unit: string): HTMLElement {
  const text = max === undefined ? `${used} ${unit} (no limit)` : `${used} of ${max} ${unit}`
  return h('div', { class: 'quota' },
    h('div', { class: 'quota-head' }, h('span', { class: 'quota-label' }, label), h('span', { class: 'quota-figure' }, text)),
    max === undefined ? null : h('meter', { min: 0, max, value: used, high: Math.max(0, max - 1), optimum: 0, 'aria-label': `${label}: ${text}` }))
}

/** Quotas in use: per key (the admin's view: every key; a scoped key: its own), and per user against the per-user limit. */
export function quotasView(q: QuotaStats, admin: boolean): Node {
  const keys = q.keys.length === 0
    ? [h('p', { class: 'hint' }, admin ? 'No scoped keys yet.' : 'No quota on this key.')]
    : q.keys.map((k) => h('div', { class: 'quota-key' },
      bar(k.name, k.openSessions, k.maxSessions, 'sessions open'),
      bar('', k.createsLastMin, k.createsPerMin, 'creates in the last minute')))
  const users = q.users.length === 0
    ? [h('p', { class: 'hint' }, 'No open sessions.')]
    : q.users.map((u) => bar(u.user, u.openSessions, q.maxSessionsPerUser, 'sessions open'))
  return h('div', { class: 'quotas' },
    h('div', {}, h('h3', {}, admin ? 'Per key' : 'This key'), ...keys),
    h('div', {}, h('h3', {}, `Per user (at most ${q.maxSessionsPerUser} each)`), ...users))
}

/** The ended-reasons chart in words: the day's totals per reason, most first (the chart is a canvas). */
export function endedSummary(r: EndedReasonStats): string {
  const totals = Object.entries(r.counts)
    .map(([reason, counts]) => [reason.replaceAll('_', ' '), counts.reduce((a, b) => a + b, 0)] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
  if (totals.length === 0) return 'No sessions ended in the last 24 hours.'
  return `Last 24 hours: ${totals.map(([reason, n]) => `${n} ${reason}`).join(', ')}.`
}
