import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { buildProgram } from './program.ts'

function run(argv: string[]) {
  const out = new PassThrough()
  const err = new PassThrough()
  let stdout = ''
  let stderr = ''
  out.on('data', (d: Buffer) => (stdout += d.toString()))
  err.on('data', (d: Buffer) => (stderr += d.toString()))
  let code: number | undefined
  const program = buildProgram({ cwd: '/tmp', env: {}, stdout: out, stderr: err }, (c) => (code = c), new AbortController().signal)
  program.exitOverride()
  program.commands.forEach(function walk(c): void {
    c.exitOverride()
    c.commands.forEach(walk)
  })
  return program.parseAsync(['node', 'infra-lab', ...argv]).then(
    () => ({ code, stdout, stderr, error: undefined as string | undefined }),
    (e: { code?: string; message: string }) => ({ code, stdout, stderr, error: e.code }),
  )
}

describe('infra-lab argv parsing', () => {
  it('lists every command in --help', async () => {
    const r = await run(['--help'])
    expect(r.error).toBe('commander.helpDisplayed')
    for (const c of ['gateway', 'shell', 'sessions', 'bench']) expect(r.stdout).toContain(c)
  })

  it('documents the gateway flags', async () => {
    const r = await run(['gateway', '--help'])
    for (const f of ['--driver', '--port', '--host', '--pool-size', '--data-dir', '--workspaces', '--config', '--teardown']) expect(r.stdout).toContain(f)
  })

  it('rejects a bad --pool-size and an unknown driver with a clear message', async () => {
    const a = await run(['gateway', '--pool-size', '-1'])
    expect(a.stderr).toMatch(/--pool-size must be an integer from 0 to 10000/)
    const b = await run(['gateway', '--driver', 'nope'])
    expect(b.stderr).toMatch(/Allowed choices are local, /)
    const c = await run(['gateway', '--port', 'http'])
    expect(c.stderr).toMatch(/--port must be an integer/)
  })

  it('needs an id for sessions kill', async () => {
    const r = await run(['sessions', 'kill'])
    expect(r.stderr).toMatch(/missing required argument 'id'/)
  })

  it('says where the API key is looked for when none is found', async () => {
    const r = await run(['sessions', 'ls', '--data-dir', '/nonexistent-dir'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/no API key: pass --key, set INFRA_LAB_API_KEY/)
  })
})
