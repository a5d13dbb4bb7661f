import { describe, expect, it } from 'vitest'
import { runCli } from './run-cli.test-util.ts'

const run = (argv: string[]) => runCli(argv)

describe('infra-lab argv parsing', () => {
  it('lists every command in --help', async () => {
    const r = await run(['--help'])
    expect(r.error).toBe('commander.helpDisplayed')
    for (const c of ['gateway', 'shell', 'exec', 'cp', 'sessions', 'keys', 'audit', 'bench']) expect(r.stdout).toContain(c)
  })

  it('documents the keys commands, their flags and that a secret is shown once', async () => {
    const k = await run(['keys', '--help'])
    for (const f of ['create', 'ls', 'revoke', 'rotate', 'printed', 'once', 'Examples:']) expect(k.stdout).toContain(f)
    const c = await run(['keys', 'create', '--help'])
    for (const f of ['--name', '--users', '--pools', '--max-sessions', '--creates-per-min', '--expires-at', '--json']) expect(c.stdout).toContain(f)
    const ls = await run(['sessions', 'ls', '--help'])
    for (const f of ['--label', '--limit', '--cursor']) expect(ls.stdout).toContain(f)
    const a = await run(['audit', '--help'])
    for (const f of ['--since', '--limit', '--cursor', '--json']) expect(a.stdout).toContain(f)
  })

  it('documents the gateway flags', async () => {
    const r = await run(['gateway', '--help'])
    for (const f of ['--driver', '--port', '--host', '--pool-size', '--data-dir', '--workspaces', '--store', '--config', '--teardown']) expect(r.stdout).toContain(f)
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

  it('documents exec and cp, with the exit status and examples', async () => {
    const e = await run(['exec', '--help'])
    for (const f of ['--session', '--user', '--keep', '--env', '--cwd', '--timeout', '--tty', 'Exit status', '128+n', '-- CMD']) expect(e.stdout).toContain(f)
    const c = await run(['cp', '--help'])
    for (const f of ['SESSION:PATH', 'stdin or stdout', 'infra-lab cp ./data.csv ses-abc:work/data.csv']) expect(c.stdout).toContain(f)
  })

  it('needs exactly one of --session and --user for exec, and a command', async () => {
    expect(await run(['exec', '--key', 'k', '--', 'true'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/pass exactly one of --session ID .* or --user NAME/) })
    expect(await run(['exec', '--key', 'k', '--session', 'ses-a', '--user', 'u', '--', 'true'])).toMatchObject({ code: 2 })
    expect(await run(['exec', '--key', 'k', '--session', 'ses-a', '--keep', '--', 'true'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--keep goes with --user/) })
    expect((await run(['exec', '--session', 'ses-a'])).stderr).toMatch(/missing required argument 'cmd'/)
    expect(await run(['exec', '--key', 'k', '--user', 'u', '--env', 'NOEQUALS', '--', 'true'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--env expects NAME=VALUE/) })
    expect((await run(['exec', '--session', 'ses-a', '--timeout', '0', 'true'])).stderr).toMatch(/--timeout must be an integer from 1 to 3600/)
  })

  it('tells exec failures (125) apart from the command\'s own status', async () => {
    const r = await run(['exec', '--key', 'k', '--url', 'http://127.0.0.1:9', '--session', 'ses-a', 'ls', '-la'])
    expect(r).toMatchObject({ code: 125, stderr: expect.stringMatching(/infra-lab exec: cannot reach the gateway at http:\/\/127.0.0.1:9/) })
  })

  it('needs one side of cp in a session and the other local', async () => {
    expect(await run(['cp', '--key', 'k', 'a', 'b'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/one side must be SESSION:PATH/) })
    expect(await run(['cp', '--key', 'k', 'ses-a:x', 'ses-b:y'])).toMatchObject({ code: 2 })
    expect(await run(['cp', '--key', 'k', 'a', 'ses-a:'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/no path after the session id/) })
    expect(await run(['cp', '--key', 'k', '/etc', 'ses-a:x'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/not a regular file/) })
  })
})
