import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn as spawnPty } from 'node-pty'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LocalDriver } from '../src/drivers/local/local-driver.ts'
import { defaultRuntimeDir } from '../src/drivers/host/layout.ts'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'
import { agentBundleDir } from '../src/paths.ts'
import { CLI, KEY, Term, exited, runCli, runGateway, type RunningGateway } from './gateway-process.test-util.ts'

const skip = localDriverSkipReason()
const SECRET = 'sekrit-9f83b1c7-value'

async function waitReady(gw: RunningGateway, n: number): Promise<void> {
  const end = Date.now() + 30_000
  while ((await gw.client.pool('default')).status.ready < n) {
    if (Date.now() > end) throw new Error('pool did not fill')
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Every file under dir (not following symlinks), for secret scans. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...filesUnder(p))
    else if (e.isFile()) out.push(p)
  }
  return out
}

describe.skipIf(skip !== undefined)(`gateway with the local driver, as a process${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'infra-lab-it-'))
  const config = { driver: 'local', pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 6 }] }
  let gw: RunningGateway

  beforeAll(async () => {
    gw = await runGateway(dataDir, config)
    await waitReady(gw, 2)
  })
  afterAll(async () => {
    gw?.child.kill('SIGKILL')
    await runCli(['gateway', '--config', join(dataDir, 'config.json'), '--data-dir', dataDir, '--teardown'])
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('gives a real, unprivileged shell with env, secrets and the workspace as home; secrets stay out of disk and logs', async () => {
    const s = await gw.client.createSession({ user: 'carol', env: { FOO: 'bar baz' }, secrets: { API_TOKEN: SECRET } })
    expect(s.warm).toBe(true)
    const t = await Term.open(gw.client, s.attach)
    t.type('echo "[$((6*7))] [$FOO] [$(pwd)] [$(id -u)]"; grep CapEff /proc/self/status; test "$API_TOKEN" = "' + SECRET + '" && echo token-ok\n')
    // (the echoed command line contains "token-ok" too: wait for the output line itself)
    await t.waitFor((x) => /\ntoken-ok\r?\n/.test(x.output) && x.output.includes('[42] [bar baz]'), 'shell output')
    expect(t.output).toContain('[42] [bar baz] [/home/user] [1000]')
    expect(t.output).toMatch(/CapEff:\s+0000000000000000/)
    t.type('echo hello > note.txt\n')
    await t.waitFor(() => existsSync(join(dataDir, 'workspaces', 'carol', 'note.txt')), 'file in the workspace')
    t.close()

    const scanned = [...filesUnder(dataDir), ...filesUnder(defaultRuntimeDir(dataDir))].filter((f) => statSync(f).size < 50 * 1024 * 1024)
    expect(scanned.length).toBeGreaterThan(3)
    for (const f of scanned) expect(readFileSync(f).includes(SECRET), f).toBe(false)
    expect(gw.stderr()).not.toContain(SECRET)
    await gw.client.deleteSession(s.id)
  })

  it('infra-lab shell attaches a terminal like ssh: raw keys in, output out, the exit code back', async () => {
    const pty = spawnPty(process.execPath, [CLI, 'shell', '--user', 'hal', '--url', gw.url, '--key', KEY], { cols: 90, rows: 20, env: { ...process.env, TERM: 'xterm' } as Record<string, string> })
    let out = ''
    pty.onData((d) => (out += d))
    const code = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)))
    const until = async (needle: string) => {
      const end = Date.now() + 10_000
      while (!out.includes(needle)) {
        if (Date.now() > end) throw new Error(`no "${needle}" in:\n${out}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    await until('hal@sandbox')
    pty.write('echo "[$((6*7))] $(stty size)"\r')
    await until('[42] 20 90')
    pty.write('exit 7\r')
    expect(await code).toBe(7)
  })

  it('keeps shells across kill -9 of the gateway, re-attaches with scrollback, and removes orphans', async () => {
    const s = await gw.client.createSession({ user: 'dave' })
    const t = await Term.open(gw.client, s.attach)
    t.type('echo before-crash-$((40+2))\n')
    await t.waitFor((x) => x.output.includes('before-crash-42'), 'marker')
    gw.child.kill('SIGKILL')
    await exited(gw.child)
    t.close()

    // An orphan: a sandbox the gateway's database has never heard of.
    const driver = new LocalDriver({ dataDir, workspacesDir: join(dataDir, 'workspaces'), agentBundleDir: agentBundleDir(), logger: pino({ level: 'silent' }) })
    await driver.init()
    const orphan = await driver.create({ id: 'sb-orphan000001', pool: 'default', limits: { pids: 64, memoryMb: 256, cpus: 1 }, network: false, helloTimeoutMs: 20_000 })

    gw = await runGateway(dataDir, config)
    expect((await gw.client.getSession(s.id)).state).toBe('running')
    const again = await Term.open(gw.client, await gw.client.attach(s.id))
    await again.waitFor((x) => x.output.includes('before-crash-42'), 'scrollback after restart')
    again.type('echo after-restart-$((1+1))\n')
    await again.waitFor((x) => x.output.includes('after-restart-2'), 'shell after restart')
    again.close()
    expect((await driver.list()).map((h) => h.id)).not.toContain(orphan.id)
    await waitReady(gw, 2)
    await gw.client.deleteSession(s.id)
  })

  it('ends a session whose sandbox is killed from outside, and refills the pool', async () => {
    const s = await gw.client.createSession({ user: 'erin' })
    const t = await Term.open(gw.client, s.attach)
    const driver = new LocalDriver({ dataDir, workspacesDir: join(dataDir, 'workspaces'), agentBundleDir: agentBundleDir(), logger: pino({ level: 'silent' }) })
    t.type('echo $INFRA_LAB_SESSION_ID\n')
    await t.waitFor((x) => x.output.includes(s.id), 'session id in the shell')
    // The host's mount table says which slot holds erin's workspace (connecting to the agent
    // would replace the gateway's connection, so the test does not).
    // Her workspace is a mount of its own (her quota image): the slot bind shows the same device.
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' '))
    const ws = join(dataDir, 'workspaces', 'erin')
    const dev = mountinfo.find((f) => f[4] === ws)?.[2]
    const line = mountinfo.find((f) => /\/slots\/[^/]+\/home$/.test(f[4] ?? '') && (f[2] === dev || f[3] === ws))?.join(' ')
    expect(line, 'workspace mount').toBeTruthy()
    const slotId = /\/slots\/([^/]+)\/home/.exec(line!)?.[1]
    const victim = (await driver.list()).find((h) => h.id === slotId)?.meta.pid as number | undefined
    expect(victim).toBeGreaterThan(1)
    process.kill(victim!, 'SIGKILL')
    await t.waitFor((x) => x.exit !== undefined, 'exit message')
    expect(t.exit?.reason).toBe('sandbox_lost')
    expect(await gw.client.getSession(s.id)).toMatchObject({ state: 'ended', endedReason: 'sandbox_lost' })
    await waitReady(gw, 2)
  })

  it('shuts down cleanly on SIGTERM without losing the session', async () => {
    const s = await gw.client.createSession({ user: 'frank' })
    gw.child.kill('SIGTERM')
    expect(await exited(gw.child)).toBe(0)
    gw = await runGateway(dataDir, config)
    const t = await Term.open(gw.client, await gw.client.attach(s.id))
    t.type('echo alive-$((2*3))\n')
    await t.waitFor((x) => x.output.includes('alive-6'), 'shell after SIGTERM restart')
    t.close()
    await gw.client.deleteSession(s.id)
  })

  it('--teardown removes every sandbox, mount and directory', async () => {
    const s = await gw.client.createSession({ user: 'gina' })
    expect(['starting', 'running']).toContain(s.state)
    gw.child.kill('SIGKILL')
    await exited(gw.child)
    const runtime = defaultRuntimeDir(dataDir)
    const r = await runCli(['gateway', '--config', join(dataDir, 'config.json'), '--data-dir', dataDir, '--teardown'], { INFRA_LAB_API_KEY: KEY })
    expect(r.code, r.stderr).toBe(0)
    expect(existsSync(runtime)).toBe(false)
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(runtime)
    const procs = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    expect(procs).not.toContain(runtime)
  })
})
