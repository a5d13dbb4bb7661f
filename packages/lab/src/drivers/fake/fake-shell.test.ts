import { describe, expect, it } from 'vitest'
import { arithmetic, runFakeLine } from './fake-shell.ts'

describe('fake shell', () => {
  it('answers echo lines with arithmetic and variables expanded', () => {
    expect(runFakeLine('echo $((6*7))', {})).toBe('42')
    expect(runFakeLine('echo "$GREETING ${WHO}!"', { GREETING: 'hi', WHO: 'ada' })).toBe('hi ada!')
    expect(runFakeLine('echo', {})).toBe('')
    expect(runFakeLine('ls -la', {})).toBeUndefined()
  })

  it('evaluates integer arithmetic with precedence and parentheses', () => {
    expect(arithmetic('1 + 2 * 3')).toBe(7)
    expect(arithmetic('(1 + 2) * 3')).toBe(9)
    expect(arithmetic('7 / 2 - 10 % 4')).toBe(1)
    expect(arithmetic('-3 + 5')).toBe(2)
    expect(() => arithmetic('1 +')).toThrow(SyntaxError)
    expect(() => arithmetic('process.exit()')).toThrow(SyntaxError)
  })
})
