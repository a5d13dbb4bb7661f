/**
 * Just enough shell for tests: lines are echoed back as a terminal would, and `echo` lines
 * print their argument with `$((arithmetic))`, `$NAME` and `${NAME}` expanded. No eval.
 */
export function runFakeLine(line: string, env: Readonly<Record<string, string>>): string | undefined {
  const m = /^\s*echo(?:\s+(.*))?$/.exec(line)
  if (!m) return undefined
  return expand(m[1] ?? '', env)
}

function expand(text: string, env: Readonly<Record<string, string>>): string {
  return text
    .replace(/\$\(\((.*?)\)\)/g, (_, expr: string) => String(arithmetic(expr)))
    .replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a?: string, b?: string) => env[(a ?? b)!] ?? '')
    .replace(/^(['"])(.*)\1$/, '$2')
}

/** Integer arithmetic with + - * / % and parentheses, as in $((...)). */
export function arithmetic(expr: string): number {
  const tokens = expr.match(/\d+|[-+*/%()]/g) ?? []
  let i = 0
  const peek = () => tokens[i]
  const next = () => tokens[i++]
  const primary = (): number => {
    const t = next()
    if (t === '(') {
      const v = sum()
      if (next() !== ')') throw new SyntaxError(`missing ) in ${expr}`)
      return v
    }
    if (t === '-') return -primary()
    if (t === undefined || !/^\d+$/.test(t)) throw new SyntaxError(`bad arithmetic: ${expr}`)
    return Number(t)
  }
  const product = (): number => {
    let v = primary()
    while (peek() === '*' || peek() === '/' || peek() === '%') {
      const op = next()
      const r = primary()
      v = op === '*' ? v * r : op === '/' ? Math.trunc(v / r) : v % r
    }
    return v
  }
  const sum = (): number => {
    let v = product()
    while (peek() === '+' || peek() === '-') v = next() === '+' ? v + product() : v - product()
    return v
  }
  const v = sum()
  if (i !== tokens.length) throw new SyntaxError(`bad arithmetic: ${expr}`)
  return v
}
