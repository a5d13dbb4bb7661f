import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { buildClaimScript, shellQuote } from './claim-script.ts'

const TRICKY: Record<string, string> = {
  QUOTE: "it's a 'quoted' \"value\"",
  NEWLINES: 'line one\nline two\n\n',
  DOLLAR: '$HOME ${PATH} $(touch /tmp/pwned-by-claim) `id` $((1+1))',
  BACKSLASH: 'a\\b\\\\c\\n\\',
  EMPTY: '',
  UNICODE: 'héllo → 世界',
  ONLY_QUOTE: "'",
}

let home: string
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'claim-script-'))
})
afterEach(() => rmSync(home, { recursive: true, force: true }))

/** Runs the claim script in a real bash, then prints the named variables NUL-separated. */
function evaluate(script: string, names: string[]): string[] {
  const dump = `printf '%s\\0' ${names.map((n) => `"$${n}"`).join(' ')}\n`
  const run = spawnSync('bash', ['--noprofile', '--norc'], { input: script + dump, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', OLDPWD: '/x' } })
  expect(run.stderr.toString()).toBe('')
  expect(run.status).toBe(0)
  return run.stdout.toString('utf8').split('\0').slice(0, -1)
}

describe('shellQuote', () => {
  it('wraps in single quotes and escapes a quote as quote-backslash-quote-quote', () => {
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`)
    expect(shellQuote('')).toBe("''")
  })
})

describe('buildClaimScript, evaluated by bash', () => {
  it('exports env and secrets byte for byte: quotes, newlines and $ stay literal', () => {
    const script = buildClaimScript({ sessionId: 's-1', user: 'alice', home, env: TRICKY, secrets: { TOKEN: "s3cr'et\n$x" } })
    const names = [...Object.keys(TRICKY), 'TOKEN']
    expect(evaluate(script, names)).toEqual([...Object.values(TRICKY), "s3cr'et\n$x"])
  })

  it('sets the identity, moves to HOME, clears OLDPWD and sets a prompt without \\u', () => {
    const script = buildClaimScript({ sessionId: 'sess-42', user: 'bob.b-1', home, env: {}, secrets: {} })
    const [h, user, logname, sid, pwd, oldpwd, ps1, histfile] = evaluate(script, [
      'HOME', 'USER', 'LOGNAME', 'INFRA_LAB_SESSION_ID', 'PWD', 'OLDPWD', 'PS1', 'HISTFILE',
    ])
    expect([h, user, logname, sid, pwd, oldpwd]).toEqual([home, 'bob.b-1', 'bob.b-1', 'sess-42', home, ''])
    expect(ps1).toBe('$USER@sandbox:\\w\\$ ')
    expect(histfile).toBe(join(home, '.bash_history'))
  })

  it('exports to child processes and unsets the names it is given', () => {
    const script = buildClaimScript({ sessionId: 's', user: 'u', home, env: { FOO: 'bar' }, secrets: {} }, ['AGENT_X'])
    const run = spawnSync('bash', ['--noprofile', '--norc'], {
      input: `${script}env\n`, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AGENT_X: 'leak' },
    })
    const env = run.stdout.toString()
    expect(env).toMatch(/^FOO=bar$/m)
    expect(env).toMatch(/^INFRA_LAB_SESSION_ID=s$/m)
    expect(env).not.toMatch(/AGENT_X/)
  })

  it("sources the user's ~/.bashrc when it is readable", () => {
    writeFileSync(join(home, '.bashrc'), 'FROM_BASHRC=yes\n')
    const script = buildClaimScript({ sessionId: 's', user: 'u', home, env: {}, secrets: {} })
    expect(evaluate(script, ['FROM_BASHRC'])).toEqual(['yes'])
  })

  it('uses only builtins: it still works with an empty PATH', () => {
    const script = buildClaimScript({ sessionId: 's', user: 'u', home, env: { A: "x'y" }, secrets: {} })
    const run = spawnSync('/bin/bash', ['--noprofile', '--norc'], { input: `${script}PATH=\nprintf '%s' "$A|$PWD"\n`, env: { PATH: '' } })
    expect(run.stderr.toString()).toBe('')
    expect(run.stdout.toString()).toBe(`x'y|${home}`)
  })
})
