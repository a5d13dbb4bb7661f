import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, chown, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentChannel } from './channel.ts'
import { waitForOutput } from './contract.ts'
import type { SandboxDriver, SandboxHandle } from './types.ts'

export interface EscapeEnv {
  readonly driver: SandboxDriver
  /** Host directory holding every user's workspace. */
  readonly workspacesDir: string
  /** Host uid that owns the workspaces (the sandbox uid on the host). */
  readonly workspaceUid: number
  /** What `id -u` prints in the sandbox's shell. */
  readonly shellUid: number
  /** Removes everything the driver made (called after the sandboxes are destroyed). */
  cleanup(): Promise<void>
}

/** Built statically on the host: the sandboxes have no compiler and no python. */
const PROBE_SOURCE = join(dirname(fileURLToPath(import.meta.url)), '../../native/seccomp_probe.c')

/** What the probe must print (see native/seccomp_probe.c): the filter's errno, or `ok`. */
const DENIED = [
  'mount', 'umount2', 'unshare', 'setns', 'clone_newuser', 'keyctl', 'add_key', 'bpf', 'perf_event_open', 'ptrace',
  'process_vm_readv', 'userfaultfd', 'io_uring_setup', 'open_tree', 'name_to_handle_at', 'kcmp', 'pidfd_getfd', 'modify_ldt',
  'chroot', 'clock_settime', 'socket_vsock', 'personality_no_aslr', 'personality_top_bit',
  'x32_mount', 'x32_unshare', 'x32_keyctl', 'x32_bpf', 'x32_userfaultfd', 'x32_ptrace',
]
const DENIED_I386 = ['i386_mount', 'i386_unshare', 'i386_clone_newuser', 'i386_keyctl', 'i386_bpf', 'i386_ptrace', 'i386_userfaultfd', 'i386_personality_no_aslr']
const ALLOWED = ['personality_query', 'personality_linux32', 'clone_plain', 'socket_unix']

/**
 * Attacks from one user's shell on another user's workspace and on the kernel, which every real
 * driver must withstand. Call it from the driver's test file:
 * `runEscapeSuite('local', async () => ({ driver, workspacesDir, ..., cleanup }))`.
 * Two sandboxes are claimed by alice and bob; alice attacks. Everything is removed afterwards.
 */
export function runEscapeSuite(name: string, makeEnv: () => Promise<EscapeEnv>): void {
  const tag = randomBytes(3).toString('hex')
  const ALICE_SECRET = `alice-secret-${tag}`
  const BOB_SECRET = `bob-secret-${tag}`

  describe(`escape attempts: ${name}`, () => {
    let env: EscapeEnv
    const sandboxes: SandboxHandle[] = []
    let alice: AgentChannel
    let bob: AgentChannel
    let bobHost: string
    let marker = 1000

    /** Runs `cmd` in the shell and returns what it printed (the PTY echo of `cmd` included). */
    async function sh(c: AgentChannel, cmd: string): Promise<string> {
      const n = ++marker
      // The marker is computed by the shell, so the echoed input never matches it.
      const done = waitForOutput(c, new RegExp(`__E${n}__`), 15_000)
      c.sendInput(Buffer.from(`${cmd}; echo __E$((${n - 1}+1))__\n`))
      return done
    }

    beforeAll(async () => {
      env = await makeEnv()
      const { driver, workspaceUid: uid } = env
      for (const [user, secret] of [['alice', ALICE_SECRET], ['bob', BOB_SECRET]] as const) {
        const dir = join(env.workspacesDir, user)
        await mkdir(dir, { recursive: true, mode: 0o700 })
        await chown(dir, uid, uid)
        await writeFile(join(dir, 'secret.txt'), `${secret}\n`, { mode: 0o600 })
        await chown(join(dir, 'secret.txt'), uid, uid)
      }
      // Alice's tools: the syscall probe and util-linux's unshare (which images need not have).
      const build = await mkdtemp(join(tmpdir(), 'ilab-probe-'))
      try {
        await promisify(execFile)(process.env.CC ?? 'cc', ['-std=gnu11', '-O2', '-static', '-o', join(build, 'probe'), PROBE_SOURCE])
        for (const [from, to] of [[join(build, 'probe'), 'seccomp-probe'], ['/usr/bin/unshare', 'unshare']] as const) {
          const dst = join(env.workspacesDir, 'alice', to)
          await copyFile(from, dst)
          await chown(dst, uid, uid)
          await chmod(dst, 0o755)
        }
      } finally {
        await rm(build, { recursive: true, force: true })
      }
      bobHost = join(env.workspacesDir, 'bob')
      const limits = { pids: 128, memoryMb: 256, cpus: 1 }
      const [ha, hb] = await Promise.all(['a', 'b'].map((x) => driver.create({ id: `esc-${x}-${tag}`, pool: 'escape', limits, network: false, helloTimeoutMs: 15_000 })))
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
      for (const h of sandboxes) await env.driver.destroy(h.id)
      await env?.cleanup()
    })

    it('each user sees their own workspace at /home/user, bound at claim time after the sandbox started', async () => {
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
      expect(out).toMatch(new RegExp(`UID=${env.shellUid}\\b`))
    })

    it('the shell can write only its workspace, /tmp, /dev/shm and its agent socket dir', async () => {
      const denied = ['/x', '/etc/x', '/usr/x', '/usr/bin/x', '/usr/local/x', '/opt/infra-lab/x', '/slot/x', '/home/x', '/bin/x', '/proc/x', '/sys/x', '/dev/x', '/run/x', '/opt/x']
      // WRO""TE: the PTY echo of this command line does not contain the word the shell prints.
      const out = await sh(alice, `for f in ${denied.join(' ')}; do touch $f 2>/dev/null && echo WRO""TE:$f; done; mv /slot/home /slot/h2 2>/dev/null && echo WRO""TE:mv; touch /tmp/ok /home/user/ok /dev/shm/ok /run/agent/ok && echo O""K; echo hi > /dev/null && echo N""ULL`)
      expect(out).not.toContain('WROTE:')
      expect(out).toContain('OK')
      expect(out).toContain('NULL')
    })

    it('the sandbox has no network interface but loopback', async () => {
      // /proc/net/dev lists the network namespace's interfaces (the local sandbox has no /sys).
      // I""F: the echoed command line never matches what the shell prints.
      const out = await sh(alice, 'sed 1,2d /proc/net/dev | while IFS=: read -r name _; do echo "I""F $name"; done')
      const names = [...out.matchAll(/^IF\s+(\S+)/gm)].map((m) => m[1])
      expect(names).toEqual(['lo'])
      expect(out).not.toMatch(/\beth\d/)
    })

    it('every process in the sandbox, pid 1 and the shell included, runs under a seccomp filter', async () => {
      // S""ECCOMP: the echoed command line never matches what the shell prints.
      const out = await sh(alice, 'for p in /proc/[0-9]*; do echo "S""ECCOMP $p $(grep "^Seccomp:" $p/status 2>/dev/null)"; done; grep "^Seccomp:" /proc/self/status')
      const modes = [...out.matchAll(/^SECCOMP (\/proc\/\d+) Seccomp:\s+(\d)/gm)].map((m) => `${m[1]}=${m[2]}`)
      expect(modes).toContain('/proc/1=2')
      expect(modes.length).toBeGreaterThanOrEqual(3)
      expect(modes.filter((m) => !m.endsWith('=2'))).toEqual([])
      expect(out).toMatch(/^Seccomp:\s+2\s*$/m)
    })

    it('alice cannot make a user, mount or any other namespace (unshare -Ur, unshare -m, ...)', async () => {
      // R""C: the echoed command line never matches what the shell prints.
      const tries = ['-Ur true', '-U true', '-m true', '-p -f true', '-n true', '-i true', '-u true', '-C true', '-T true']
      const out = await sh(alice, tries.map((t) => `~/unshare ${t} 2>&1; echo "R""C ${t} $?"`).join('; '))
      for (const t of tries) expect(out, `unshare ${t}`).toMatch(new RegExp(`^RC ${t} [1-9]`, 'm'))
      expect(out).toContain('Operation not permitted')
    })

    it('syscalls escapes start with fail with EPERM on the x86_64, i386 and x32 ABIs (clone3: ENOSYS); the harmless forms still work', async () => {
      const checks = ['i386_getpid', ...DENIED, ...DENIED_I386, 'clone3', 'i386_clone3', ...ALLOWED]
      const out = await sh(alice, `~/seccomp-probe ${checks.join(' ')}`)
      const got = Object.fromEntries([...out.matchAll(/^(\w+)=(\w+)\r?$/gm)].map((m) => [m[1], m[2]]))
      // A kernel without the i386 entry (int $0x80 faults) leaves nothing to bypass there.
      const i386 = got.i386_getpid === 'noabi' ? 'noabi' : undefined
      const want: Record<string, string> = { i386_getpid: i386 ?? 'ok' }
      for (const c of DENIED) want[c] = 'EPERM'
      for (const c of DENIED_I386) want[c] = i386 ?? 'EPERM'
      want.clone3 = 'ENOSYS'
      want.i386_clone3 = i386 ?? 'ENOSYS'
      for (const c of ALLOWED) want[c] = 'ok'
      expect(got).toEqual(want)
    })

    it('what a dev shell does still works under the filter: pipes, subshells, node starting a child', async () => {
      // node is on PATH, or (local driver, node outside /usr) the agent's copy.
      const node = '$(command -v node || echo /opt/infra-lab/node)'
      const out = await sh(alice, `echo $(seq 1 3 | tr "\\n" +)0 | bash -c "read x; echo SUM=\\$((x))"; ${node} -e "require('child_process').execFileSync('true'); console.log('NO'+'DE')"`)
      expect(out).toMatch(/SUM=6/)
      expect(out).toContain('NODE')
    })
  })
}
