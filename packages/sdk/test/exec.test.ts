import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AGENT_BUNDLE_DIR, localDriverSkipReason, localTestEnv } from '../../lab/src/drivers/local/test-support.ts'
import { startTestGateway, TEST_KEY, waitFor } from '../../lab/src/gateway/test-gateway.test-util.ts'
import { ExecFailedError, InfraLab, ProcessNotFoundError, SessionEndedError, type Session } from '../src/index.ts'

const skip = localDriverSkipReason() ?? (existsSync(join(AGENT_BUNDLE_DIR, 'agent.mjs')) ? undefined : 'the agent bundle is not built (node scripts/build.mjs)')

// The SDK's commands against a real gateway and real sandboxes (local driver).
describe.skipIf(skip !== undefined)(`session.exec, spawn and processes (local driver)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof localTestEnv>>
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  let lab: InfraLab
  let s: Session

  beforeAll(async () => {
    env = await localTestEnv('sdk-exec')
    gw = await startTestGateway(await env.makeDriver(), { driver: 'local', pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 4 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 1, 30_000, 'a warm sandbox')
    lab = new InfraLab({ url: gw.url, apiKey: TEST_KEY })
    s = await lab.sessions.create({ user: 'alice', env: { FROM_CREATE: 'yes' } })
  })
  afterAll(async () => {
    await gw?.cleanup()
    await env?.cleanup()
  })

  it('runs a string with bash -c and an array as argv, with the exit status and both streams', async () => {
    const r = await s.exec('echo out; echo err >&2; exit 3')
    expect(r).toMatchObject({ exitCode: 3, signal: null, stdout: 'out\n', stderr: 'err\n', timedOut: false, truncated: false })
    expect(r.durationMs).toBeGreaterThan(0)
    const argv = await s.exec(['printf', '%s|', 'a b', '$HOME', ';'])
    expect(argv.stdout).toBe('a b|$HOME|;|')
  })

  it("passes the session's env, the call's env, cwd and stdin (a string or UTF-8 bytes)", async () => {
    const r = await s.exec('echo "$FROM_CREATE $EXTRA $USER"; pwd', { env: { EXTRA: 'x y' }, cwd: '/tmp' })
    expect(r.stdout).toBe('yes x y alice\n/tmp\n')
    expect((await s.exec('cat', { stdin: 'typed\n' })).stdout).toBe('typed\n')
    expect((await s.exec('cat', { stdin: new TextEncoder().encode('bytes \u00e9\n') })).stdout).toBe('bytes \u00e9\n')
    await expect(s.exec('cat', { stdin: new Uint8Array([0xff, 0xfe]) })).rejects.toThrow(/stdin bytes must be UTF-8/)
  })

  it('reports a signal by name and a timeout', async () => {
    expect(await s.exec('kill -TERM $$')).toMatchObject({ exitCode: null, signal: 'SIGTERM' })
    const t = await s.exec('sleep 30', { timeoutS: 1 })
    expect(t.timedOut).toBe(true)
  })

  it('streams: the handler sees the first line while the command still waits for the test', async () => {
    const seen: string[] = []
    let released = false
    const r = await s.exec('echo ready; while [ ! -e go-flag ]; do sleep 0.05; done; echo done; echo to-stderr >&2', {
      timeoutS: 30,
      onStdout: async (chunk) => {
        seen.push(chunk)
        // only a stream delivers this before the command exits: it waits for this very file
        if (!released && seen.join('').includes('ready\n')) {
          released = true
          await s.files.write('go-flag', '')
        }
      },
    })
    expect(seen.join('')).toBe('ready\ndone\n')
    expect(r).toMatchObject({ exitCode: 0, stdout: '', stderr: 'to-stderr\n', timedOut: false })
    await s.files.remove('go-flag')
  })

  it('returns output that is not UTF-8 exactly with encoding base64, buffered and streamed', async () => {
    const r = await s.exec("printf '\\377\\000\\376'", { encoding: 'base64' })
    expect([...Buffer.from(r.stdout, 'base64')]).toEqual([0xff, 0x00, 0xfe])
    const chunks: Buffer[] = []
    await s.exec("printf '\\377\\000\\376'", { encoding: 'base64', onStdout: (c) => void chunks.push(Buffer.from(c, 'base64')) })
    expect([...Buffer.concat(chunks)]).toEqual([0xff, 0x00, 0xfe])
  })

  it('returns the first result again for a retried Idempotency-Key', async () => {
    const a = await s.exec('cat /proc/sys/kernel/random/uuid', { idempotencyKey: 'retry-1' })
    const b = await s.exec('cat /proc/sys/kernel/random/uuid', { idempotencyKey: 'retry-1' })
    expect(b.stdout).toBe(a.stdout)
    expect((await s.exec('cat /proc/sys/kernel/random/uuid')).stdout).not.toBe(a.stdout)
  })

  it('stops streaming when its signal aborts', async () => {
    const ac = new AbortController()
    const run = s.exec('echo first; sleep 20', { timeoutS: 30, signal: ac.signal, onStdout: () => ac.abort(new Error('enough')) })
    await expect(run).rejects.toThrow('enough')
  })

  it('throws ExecFailedError for a program that does not exist', async () => {
    await expect(s.exec(['/no/such/program'])).rejects.toBeInstanceOf(ExecFailedError)
  })

  it('runs in the background: output followed to the exit, stdin, signals, the process list', async () => {
    const p = await s.spawn('read line; echo "got $line"')
    expect(p.processId).toMatch(/^proc-/)
    expect(await s.processes.stdin(p.processId, 'hello\n', { close: true })).toEqual({ bytes: 6 })
    const out = await s.processes.output(p.processId, { follow: true })
    expect(out).toMatchObject({ stdout: 'got hello\n', stderr: '', exit: { exitCode: 0, signal: null } })

    const sleeper = await s.spawn(['sleep', '100'])
    const chunks: string[] = []
    const followed = s.processes.output(sleeper.processId, { follow: true, onStdout: (c) => void chunks.push(c) })
    await waitFor(async () => (await s.processes.list()).some((x) => x.processId === sleeper.processId && x.running), 10_000, 'sleep to run')
    await s.processes.signal(sleeper.processId, 'SIGTERM')
    expect((await followed).exit).toMatchObject({ exitCode: null, signal: 'SIGTERM' })
    const listed = (await s.processes.list()).find((x) => x.processId === sleeper.processId)
    expect(listed).toMatchObject({ pid: sleeper.pid, running: false, signal: 'SIGTERM' })
    await expect(s.processes.signal('proc-nosuchprocess', 'SIGKILL')).rejects.toBeInstanceOf(ProcessNotFoundError)
  })

  it('throws SessionEndedError for a command on an ended session', async () => {
    const other = await lab.sessions.create({ user: 'bob' })
    await other.end()
    await expect(other.exec('true')).rejects.toBeInstanceOf(SessionEndedError)
    await expect(other.files.readText('x')).rejects.toBeInstanceOf(SessionEndedError)
  })
})
