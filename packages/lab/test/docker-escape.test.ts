import { chown, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentChannel } from '../src/drivers/channel.ts'
import { waitForOutput } from '../src/drivers/contract.ts'
import type { DockerDriver } from '../src/drivers/docker/docker-driver.ts'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import type { SandboxHandle } from '../src/drivers/types.ts'

const skip = await dockerSkipReason()
const ALICE_SECRET = 'alice-secret-0c5e71'
const BOB_SECRET = 'bob-secret-9b2d44'

/** Runs `cmd` in the shell and returns what it printed (the PTY echo of `cmd` included). */
let marker = 1000
async function sh(c: AgentChannel, cmd: string): Promise<string> {
  const n = ++marker
  // The marker is computed by the shell, so the echoed input never matches it.
  const done = waitForOutput(c, new RegExp(`__E${n}__`), 15_000)
  c.sendInput(Buffer.from(`${cmd}; echo __E$((${n - 1}+1))__\n`))
  return done
}

describe.skipIf(skip !== undefined)(`workspace isolation between docker sandboxes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof dockerTestEnv>>
  let driver: DockerDriver
  const sandboxes: SandboxHandle[] = []
  let alice: AgentChannel
  let bob: AgentChannel
  let bobHost: string

  beforeAll(async () => {
    env = await dockerTestEnv('escape')
    driver = await env.makeDriver()
    const uid = driver.options.sandboxUid
    for (const [user, secret] of [['alice', ALICE_SECRET], ['bob', BOB_SECRET]] as const) {
      const dir = join(env.workspacesDir, user)
      await mkdir(dir, { recursive: true, mode: 0o700 })
      await chown(dir, uid, uid)
      await writeFile(join(dir, 'secret.txt'), `${secret}\n`, { mode: 0o600 })
      await chown(join(dir, 'secret.txt'), uid, uid)
    }
    bobHost = join(env.workspacesDir, 'bob')
    const limits = { pids: 128, memoryMb: 256, cpus: 1 }
    const [ha, hb] = await Promise.all(['a', 'b'].map((x) => driver.create({ id: `desc-${x}-${process.pid}`, pool: 'escape', limits, network: false, helloTimeoutMs: 15_000 })))
    sandboxes.push(ha!, hb!)
    const claim = async (h: SandboxHandle, user: string) => {
      const b = await driver.bindWorkspace(h, user)
      const c = await driver.connect(h)
      await c.claim({ sessionId: `s-${user}`, user, home: b.home, env: {}, secrets: {} }, 10_000)
      return c
    }
    alice = await claim(ha!, 'alice')
    bob = await claim(hb!, 'bob')
  })
  afterAll(async () => {
    alice?.close()
    bob?.close()
    for (const h of sandboxes) await driver.destroy(h.id)
    await env?.cleanup()
  })

  it('each user sees their own workspace at /home/user, bound after the container started', async () => {
    expect(await sh(alice, 'cat /home/user/secret.txt')).toContain(ALICE_SECRET)
    expect(await sh(bob, 'cat ~/secret.txt')).toContain(BOB_SECRET)
  })

  it("alice cannot read bob's workspace by path, .., symlinks, /proc/*/root or /proc/*/cwd", async () => {
    const attempts = [
      `cat ${bobHost}/secret.txt`,
      `cat /slot/home/../../${bobHost}/secret.txt /slot/../${bobHost}/secret.txt /slot/home/../bob/secret.txt`,
      `cat /home/user/../bob/secret.txt /home/user/../../${bobHost}/secret.txt /home/bob/secret.txt`,
      `ln -sf /proc/1/root${bobHost}/secret.txt ~/l1; ln -sf ${bobHost}/secret.txt ~/l2; ln -sf /slot/../../../${bobHost} ~/l3; cat ~/l1 ~/l2 ~/l3/secret.txt`,
      `for p in /proc/[0-9]*; do cat $p/root${bobHost}/secret.txt $p/cwd/../bob/secret.txt $p/root/home/bob/secret.txt; done`,
      'ls -la /slot/.. /slot /home /run /run/agent /proc/1/root/ /proc/1/cwd/',
      'cat /proc/self/mountinfo',
      `find / -xdev -name secret.txt 2>/dev/null | xargs cat`,
    ]
    for (const cmd of attempts) {
      const out = await sh(alice, `${cmd} 2>&1`)
      expect(out, cmd).not.toContain(BOB_SECRET)
    }
  })

  it('alice cannot unmount or replace her workspace mount to look underneath', async () => {
    const out = await sh(alice, 'umount /slot/home; umount -l /home/user; mount -t tmpfs x /slot/home; rmdir /slot/home; ls -A /slot/home')
    expect(out).toContain('secret.txt')
    expect(await sh(alice, 'cat /home/user/secret.txt')).toContain(ALICE_SECRET)
  })

  it("bob's workspace and sandbox do not appear in alice's mountinfo", async () => {
    const out = await sh(alice, 'cat /proc/self/mountinfo')
    expect(out).not.toContain('workspaces/bob')
    expect(out).not.toContain(sandboxes[1]!.id)
    expect(out).toMatch(/\/slot\/home/)
  })

  it('the shell runs with no capabilities, no new privileges and a non-root uid', async () => {
    const out = await sh(alice, 'grep -E "^(Cap(Eff|Prm|Amb|Bnd)|NoNewPrivs):" /proc/self/status; echo UID=$(id -u)')
    expect(out).toMatch(/CapEff:\s+0000000000000000/)
    expect(out).toMatch(/CapPrm:\s+0000000000000000/)
    expect(out).toMatch(/CapBnd:\s+0000000000000000/)
    expect(out).toMatch(/NoNewPrivs:\s+1/)
    expect(out).toMatch(/UID=100000/)
  })

  it('the shell can write only its workspace, /tmp, /dev/shm and its agent socket dir', async () => {
    const denied = ['/x', '/etc/x', '/usr/x', '/usr/bin/x', '/opt/infra-lab/x', '/slot/x', '/home/x', '/bin/x', '/proc/x', '/sys/x', '/dev/x', '/run/x', '/opt/x']
    // WRO""TE: the PTY echo of this command line does not contain the word the shell prints.
    const out = await sh(alice, `for f in ${denied.join(' ')}; do touch $f 2>/dev/null && echo WRO""TE:$f; done; mv /slot/home /slot/h2 2>/dev/null && echo WRO""TE:mv; touch /tmp/ok /home/user/ok /dev/shm/ok /run/agent/ok && echo O""K; echo hi > /dev/null && echo N""ULL`)
    expect(out).not.toContain('WROTE:')
    expect(out).toContain('OK')
    expect(out).toContain('NULL')
  })

  it('the sandbox has no network interface but loopback', async () => {
    const out = await sh(alice, 'ls /sys/class/net | tr "\\n" " "; echo')
    expect(out).toMatch(/\blo\b/)
    expect(out).not.toMatch(/\beth\d/)
  })
})
