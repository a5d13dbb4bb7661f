import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runDriverContract } from '../src/drivers/contract.ts'
import { SECCOMP_FD, bwrapArgs, sandboxCommand, wrapperScript, type SandboxCommandInput, type SandboxNetworkInput } from '../src/drivers/local/bwrap-args.ts'
import { limitWrites } from '../src/drivers/local/cgroups.ts'
import { isSharedMount, parseMountInfo } from '../src/drivers/host/mounts.ts'
import { parseProcStat, parsePssBytes } from '../src/drivers/local/proc.ts'
import { defaultRuntimeDir } from '../src/drivers/host/layout.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import { isValidUserName } from '../src/drivers/host/workspace.ts'

const input: SandboxCommandInput = {
  id: 'sb-1', hostUid: 100000,
  hostRoot: { bin: { kind: 'symlink', target: 'usr/bin' }, lib: { kind: 'symlink', target: 'usr/lib' }, lib64: { kind: 'dir' }, sbin: { kind: 'absent' } },
  sockDir: '/rt/sandboxes/sb-1/sock', agentDir: '/rt/agent', slotDir: '/rt/slots/sb-1', passwd: '/rt/etc/passwd', group: '/rt/etc/group',
  nodePath: '/usr/bin/node', nodeFlags: ['--max-old-space-size=64'], cgroupProcs: ['/sys/fs/cgroup/pids/g/sb-1/cgroup.procs'], maxOpenFiles: 4096,
}
const pairAfter = (args: string[], flag: string, src: string) => args.some((a, i) => a === flag && args[i + 1] === src)

describe('bwrap arguments', () => {
  it('unshares everything, shares no network by default and dies with its parent', () => {
    const a = bwrapArgs(input)
    expect(a.slice(0, 1)).toEqual(['--unshare-all'])
    expect(a).not.toContain('--share-net')
    expect(a).toContain('--die-with-parent')
    expect(a).toContain('--new-session')
    expect(a).toContain('--clearenv')
    expect(pairAfter(a, '--hostname', 'sandbox')).toBe(true)
  })
  it('makes its user namespace explicitly, forbids nested ones, and loads the seccomp filter from fd 3', () => {
    const s = bwrapArgs(input).join(' ')
    expect(s).toContain('--unshare-user --disable-userns --seccomp 3 ')
    expect(SECCOMP_FD).toBe(3)
  })
  const network: SandboxNetworkInput = {
    netnsPath: '/run/netns/lab-0123abcd-sb-1',
    files: [['/rt/etc/net/resolv.conf', '/etc/resolv.conf'], ['/rt/etc/net/ca-certificates.crt', '/etc/ssl/certs/ca-certificates.crt']],
    env: { HTTP_PROXY: 'http://10.88.0.1:3128' },
  }
  it("a network sandbox shares the namespace the wrapper entered (its own, never the host's), with generated /etc files and the proxy env", () => {
    const a = bwrapArgs({ ...input, network })
    expect(a).toContain('--share-net')
    expect(a.slice(0, 1)).toEqual(['--unshare-all'])
    expect(pairAfter(a, '--ro-bind', '/rt/etc/net/resolv.conf')).toBe(true)
    expect(a.join(' ')).not.toContain('--ro-bind-try /etc/resolv.conf')
    expect(a.join(' ')).not.toContain('--ro-bind-try /etc/hosts')
    // The bundle comes after /etc/ssl, or the host's would hide it.
    expect(a.lastIndexOf('/etc/ssl/certs/ca-certificates.crt')).toBeGreaterThan(a.indexOf('/etc/ssl'))
    expect(a.join(' ')).toContain('--setenv HTTP_PROXY http://10.88.0.1:3128')
    const cmd = sandboxCommand({ ...input, network })
    expect(cmd.slice(3, 7)).toEqual(['nsenter', '--net=/run/netns/lab-0123abcd-sb-1', '--', 'setpriv'])
    expect(sandboxCommand(input)).not.toContain('nsenter')
    expect(bwrapArgs(input)).not.toContain('--share-net')
    expect(pairAfter(bwrapArgs(input), '--ro-bind', '/rt/etc/net/resolv.conf')).toBe(false)
  })
  it('mirrors the host root layout: symlinks stay symlinks, dirs are bound read-only, absent is absent', () => {
    const a = bwrapArgs(input)
    expect(a.join(' ')).toContain('--symlink usr/bin /bin')
    expect(a.join(' ')).toContain('--ro-bind /lib64 /lib64')
    expect(a.join(' ')).not.toContain('/sbin /sbin')
  })
  it('binds the socket dir rw, the agent and the slot read-only, and runs the agent as uid 1000', () => {
    const s = bwrapArgs(input).join(' ')
    expect(s).toContain('--bind /rt/sandboxes/sb-1/sock /run/agent')
    expect(s).toContain('--ro-bind /rt/agent /opt/infra-lab')
    expect(s).toContain('--ro-bind /rt/slots/sb-1 /slot')
    expect(s).toContain('--symlink /slot/home /home/user')
    expect(s).toContain('--remount-ro /dev --remount-ro / --uid')
    expect(s).toContain('--uid 1000 --gid 1000')
    expect(s.endsWith('-- /usr/bin/node --max-old-space-size=64 /opt/infra-lab/agent.mjs --socket /run/agent/agent.sock --sandbox-id sb-1')).toBe(true)
  })
  it('the wrapper joins the cgroups and sets rlimits as root, then runs setpriv to the sandbox uid and stays its parent', () => {
    const [c, script, argv0, ...rest] = sandboxCommand(input)
    expect(c).toBe('-c')
    expect(argv0).toBe('sh')
    expect(script).toBe(wrapperScript(input.cgroupProcs, 4096))
    expect(script).toContain(`for f in '/sys/fs/cgroup/pids/g/sb-1/cgroup.procs'; do echo $$ > "$f" || exit 97; done;`)
    expect(script).toContain('ulimit -c 0 && ulimit -n 4096')
    expect(script?.endsWith('"$@"; exit $?')).toBe(true)
    expect(rest.slice(0, 6)).toEqual(['setpriv', '--reuid=100000', '--regid=100000', '--clear-groups', '--', 'bwrap'])
  })
  it('quotes cgroup paths for the shell', () => {
    expect(wrapperScript(["/a'b"], 64)).toContain(`'/a'\\''b'`)
  })
})

describe('local driver pure helpers', () => {
  it('cgroup v1 limits: memory (and memsw), pids, cfs quota', () => {
    const w = limitWrites({ version: 1, root: '/cg', controllers: ['memory', 'pids', 'cpu'] },
      ['/cg/memory/g/x', '/cg/pids/g/x', '/cg/cpu/g/x'], { memoryMb: 256, pids: 64, cpus: 0.5 })
    expect(w.map((x) => [x.dir, x.file, x.value])).toEqual([
      ['/cg/memory/g/x', 'memory.limit_in_bytes', String(256 * 1024 * 1024)],
      ['/cg/memory/g/x', 'memory.memsw.limit_in_bytes', String(256 * 1024 * 1024)],
      ['/cg/pids/g/x', 'pids.max', '64'],
      ['/cg/cpu/g/x', 'cpu.cfs_period_us', '100000'],
      ['/cg/cpu/g/x', 'cpu.cfs_quota_us', '50000'],
    ])
  })
  it('cgroup v2 limits: memory.max, no swap, pids.max, cpu.max', () => {
    const w = limitWrites({ version: 2, root: '/cg' }, ['/cg/g/x'], { memoryMb: 64, pids: 32, cpus: 2 })
    expect(w.map((x) => `${x.file}=${x.value}`)).toEqual(['memory.max=67108864', 'memory.swap.max=0', 'pids.max=32', 'cpu.max=200000 100000'])
  })
  it('parses /proc/<pid>/stat even with spaces and parentheses in the name', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3))
    fields[0] = 'S'
    expect(parseProcStat(`42 (a b) c)) ${fields.join(' ')}`)).toEqual({ state: 'S', startTime: 22 })
  })
  it('reads Pss from smaps_rollup', () => {
    expect(parsePssBytes('Rss:  100 kB\nPss:   12 kB\nPss_Anon: 3 kB\n')).toBe(12 * 1024)
  })
  it('knows a shared mount from mountinfo', () => {
    const info = '42 27 254:0 /run/x/slots /run/x/slots rw,relatime shared:1 - ext4 /dev/vda rw\n43 27 254:0 /y /y rw - ext4 /dev/vda rw\n'
    expect(isSharedMount(parseMountInfo(info), '/run/x/slots')).toBe(true)
    expect(isSharedMount(parseMountInfo(info), '/y')).toBe(false)
  })
  it('runtime dir defaults to /run/infra-lab/<12 hex of sha256(dataDir)>', () => {
    expect(defaultRuntimeDir('/root/.infra-lab')).toMatch(/^\/run\/infra-lab\/[0-9a-f]{12}$/)
  })
  it('user names: the protocol rule, never . or ..', () => {
    for (const ok of ['alice', 'a.b-c_1']) expect(isValidUserName(ok)).toBe(true)
    for (const bad of ['.', '..', 'a/b', '', 'x'.repeat(65), 'a b']) expect(isValidUserName(bad)).toBe(false)
  })
})

const skip = localDriverSkipReason()
// A skipped describe's body still runs at collection: the environment is made in beforeAll.
describe.skipIf(skip !== undefined)(`local driver on this host${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof localTestEnv>> | undefined
  beforeAll(async () => { env = await localTestEnv('contract') })
  afterAll(() => env?.cleanup())
  runDriverContract('local', () => env!.makeDriver())
})
