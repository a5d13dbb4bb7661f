type Attrs = Record<string, string | number | boolean | undefined | ((ev: Event) => void)>

/** A small element builder: h('button', { type: 'button', onclick }, 'Go'). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string | null | undefined | false)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v)
    else if (v === true) el.setAttribute(k, '')
    else el.setAttribute(k, String(v))
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c)
  return el
}

/** A message box: role=alert for errors (read out at once), role=status otherwise. */
export function notice(kind: 'error' | 'info' | 'ended', text: string, ...extra: Node[]): HTMLElement {
  return h('div', { class: `notice ${kind}`, role: kind === 'info' ? 'status' : 'alert' }, h('span', {}, text), ...extra)
}

/** Reads a CSS custom property of the page (for chart and terminal colours). */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim()
}
