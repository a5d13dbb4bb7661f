import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InfraLab, type Session } from '@infra-lab/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AGENT_BUNDLE_DIR, localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { startTestGateway, TEST_KEY, waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { CLI } from './gateway-process.test-util.ts'

const skip = localDriverSkipReason()
  ?? (existsSync(join(AGENT_BUNDLE_DIR, 'agent.mjs')) && existsSync(CLI) ? undefined : 'the bundles are not built (node scripts/build.mjs)')

interface Run { code: number | null; stdout: Buffer; stderr: string }

/** Runs the built CLI; `onStdout` sees its output as it comes. */
function cli(args: string[], opts: { url: string; stdin?: Buffer; cwd?: string; onStdout?: (all: Buffer) => void }): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? tmpdir(),
      env: { PATH: process.env.PATH ?? '', INFRA_LAB_URL: opts.url, INFRA_LAB_API_KEY: TEST_KEY },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    const out: Buffer[] = []
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => {
      out.push(d)
      opts.onStdout?.(Buffer.concat(out))
    })
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    c.stdin.end(opts.stdin)
    c.on('exit', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }))
  })
}

// `infra-lab exec` and `infra-lab cp`, the built CLI against a real gateway with real sandboxes.
describe.skipIf(skip !== undefined)(`infra-lab exec and cp (local driver)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof localTestEnv>>
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  let lab: InfraLab
  let s: Session
  let dir: string
  const run = (args: string[], opts: Omit<Parameters<typeof cli>[1], 'url'> = {}) => cli(args, { url: gw.url, cwd: dir, ...opts })

  beforeAll(async () => {
    env = await localTestEnv('cli-exec')
    gw = await startTestGateway(await env.makeDriver(), { driver: 'local', pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 4 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 1, 30_000, 'a warm sandbox')
    lab = new InfraLab({ url: gw.url, apiKey: TEST_KEY })
    s = await lab.sessions.create({ user: 'alice' })
    dir = mkdtempSync(join(tmpdir(), 'infra-lab-cli-'))
  })
  afterAll(async () => {
    await gw?.cleanup()
    await env?.cleanup()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it("passes the command's exit status through, and 128+n for signal n", async () => {
    expect((await run(['exec', '--session', s.id, '--', 'sh', '-c', 'exit 7'])).code).toBe(7)
    expect((await run(['exec', '--session', s.id, '--', 'true'])).code).toBe(0)
    expect((await run(['exec', '--session', s.id, '--', 'sh', '-c', 'kill -TERM $$'])).code).toBe(128 + 15)
  })

  it('keeps stdout and stderr apart and the bytes exact, and hands options after the command to it', async () => {
    const r = await run(['exec', '--session', s.id, '--', 'sh', '-c', "echo out; echo err >&2; printf '\\377\\000'"])
    expect(r.code).toBe(0)
    expect([...r.stdout]).toEqual([...Buffer.from('out\n'), 0xff, 0x00])
    expect(r.stderr).toBe('err\n')
    const noDashes = await run(['exec', '--session', s.id, 'ls', '-a', '/'])
    expect(noDashes.stdout.toString()).toMatch(/^\.\n\.\.\n/)
  })

  it('streams output as it arrives: the command waits for a file the test writes once it saw the first line', async () => {
    let released = false
    const r = await run(['exec', '--session', s.id, '--timeout', '30', '--', 'sh', '-c', 'echo ready; while [ ! -e cli-go ]; do sleep 0.05; done; echo done'], {
      onStdout: (all) => {
        if (!released && all.toString().includes('ready\n')) {
          released = true
          void s.files.write('cli-go', '')
        }
      },
    })
    expect(r).toMatchObject({ code: 0, stderr: '' })
    expect(r.stdout.toString()).toBe('ready\ndone\n')
    await s.files.remove('cli-go')
  })

  it('with --user creates a session for the run and ends it, or keeps it with --keep', async () => {
    const r = await run(['exec', '--user', 'carol', '--env', 'GREETING=hi', '--', 'sh', '-c', 'echo "$GREETING $USER"'])
    expect(r.stdout.toString()).toBe('hi carol\n')
    expect((await lab.sessions.list({ user: 'carol' })).map((x) => [x.info.state, x.info.endedReason])).toEqual([['ended', 'terminated']])

    const kept = await run(['exec', '--user', 'dave', '--keep', '--', 'true'])
    expect(kept.code).toBe(0)
    const id = /session (ses-[a-z0-9]+) kept/.exec(kept.stderr)?.[1]
    expect((await lab.sessions.get(id!)).info.state).toBe('running')
    await (await lab.sessions.get(id!)).end()
  })

  it('says what went wrong with exit status 125', async () => {
    const r = await run(['exec', '--session', 'ses-doesnotexist', '--', 'true'])
    expect(r).toMatchObject({ code: 125, stderr: expect.stringMatching(/^infra-lab exec: .*session/) })
    const missing = await run(['exec', '--session', s.id, '--', '/no/such/program'])
    expect(missing.code).toBe(125)
  })

  it('copies a file in and out, streamed, byte for byte, creating parents', async () => {
    const bytes = randomBytes(5 * 1024 * 1024 + 3)
    writeFileSync(join(dir, 'in.bin'), bytes)
    expect(await run(['cp', 'in.bin', `${s.id}:up/load/in.bin`])).toMatchObject({ code: 0, stderr: '' })
    expect(Buffer.from(await s.files.read('up/load/in.bin')).equals(bytes)).toBe(true)

    expect((await run(['cp', `${s.id}:up/load/in.bin`, 'out.bin'])).code).toBe(0)
    expect(readFileSync(join(dir, 'out.bin')).equals(bytes)).toBe(true)
    mkdirSync(join(dir, 'into'))
    expect((await run(['cp', `${s.id}:up/load/in.bin`, 'into'])).code).toBe(0)
    expect(readFileSync(join(dir, 'into/in.bin')).equals(bytes)).toBe(true)
  })

  it('copies from stdin and to stdout with -', async () => {
    const bytes = randomBytes(100_000)
    expect((await run(['cp', '-', `${s.id}:/tmp/piped.bin`], { stdin: bytes })).code).toBe(0)
    const out = await run(['cp', `${s.id}:/tmp/piped.bin`, '-'])
    expect(out.code).toBe(0)
    expect(out.stdout.equals(bytes)).toBe(true)
  })

  it('names a missing file on either side and leaves no partial file', async () => {
    const r = await run(['cp', `${s.id}:nope.txt`, 'nope.txt'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^infra-lab cp: .*nope\.txt/)
    expect(existsSync(join(dir, 'nope.txt'))).toBe(false)
    const local = await run(['cp', 'absent.txt', `${s.id}:x`])
    expect(local).toMatchObject({ code: 1, stderr: expect.stringMatching(/absent\.txt: no such file or directory/) })
  })
})
