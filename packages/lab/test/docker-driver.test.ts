import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runDriverContract } from '../src/drivers/contract.ts'
import { containerBody, containerName, type ContainerInput } from '../src/drivers/docker/container-spec.ts'
import { demuxLogs } from '../src/drivers/docker/engine.ts'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'

const input: ContainerInput = {
  id: 'sb-1', pool: 'p', createdAt: 1_700_000_000_000, image: 'infra-lab/sandbox:local', uid: 100000,
  limits: { pids: 64, memoryMb: 256, cpus: 0.5 },
  sockDir: '/rt/sandboxes/sb-1/sock', slotDir: '/rt/slots/sb-1', runtimeDir: '/rt', nodeFlags: ['--max-old-space-size=64'], maxOpenFiles: 4096,
  seccompProfile: '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}',
}

describe('docker container spec', () => {
  const body = containerBody(input)
  const host = body.HostConfig as Record<string, unknown>

  it('runs the agent as the unprivileged sandbox uid with no capabilities and no new privileges', () => {
    expect(body.User).toBe('100000:100000')
    expect(host.CapDrop).toEqual(['ALL'])
    expect(host.CapAdd).toBeUndefined()
    expect(host.Privileged).toBeUndefined()
    expect(host.SecurityOpt).toEqual(['no-new-privileges', 'seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}'])
    expect(body.Entrypoint).toEqual(['/usr/bin/node', '--max-old-space-size=64', '/opt/infra-lab/agent.mjs'])
    expect(body.Cmd).toEqual(['--socket', '/run/agent/agent.sock', '--sandbox-id', 'sb-1'])
  })
  it('has no network unless the pool allows one', () => {
    expect(host.NetworkMode).toBe('none')
    expect(body.NetworkDisabled).toBe(true)
    expect(host.Sysctls).toBeUndefined()
  })
  it("a network sandbox joins the driver's network, with the generated /etc files bound read-only, the proxy env and no IPv6", () => {
    const net = containerBody({
      ...input,
      network: { name: 'infra-lab-0123abcd', files: [['/rt/etc/net/resolv.conf', '/etc/resolv.conf']], env: { HTTP_PROXY: 'http://10.88.0.1:3128' } },
    })
    const h = net.HostConfig as Record<string, unknown>
    expect(h.NetworkMode).toBe('infra-lab-0123abcd')
    expect(net.NetworkDisabled).toBe(false)
    expect(h.Binds).toContain('/rt/etc/net/resolv.conf:/etc/resolv.conf:ro')
    expect(net.Env).toContain('HTTP_PROXY=http://10.88.0.1:3128')
    expect(h.Sysctls).toEqual({ 'net.ipv6.conf.all.disable_ipv6': '1' })
  })
  it('has a read-only root with a writable /tmp, and binds only the socket dir (rw) and the slot (ro, rslave)', () => {
    expect(host.ReadonlyRootfs).toBe(true)
    expect(Object.keys(host.Tmpfs as object)).toEqual(['/tmp'])
    expect(host.Binds).toEqual(['/rt/sandboxes/sb-1/sock:/run/agent:rw', '/rt/slots/sb-1:/slot:ro,rslave'])
  })
  it('sets the pool limits: pids, memory without extra swap, CPU', () => {
    expect(host.PidsLimit).toBe(64)
    expect(host.Memory).toBe(256 * 1024 * 1024)
    expect(host.MemorySwap).toBe(256 * 1024 * 1024)
    expect(host.NanoCpus).toBe(500_000_000)
    expect(host.Init).toBe(true)
  })
  it('labels the container with pool, sandbox id and runtime dir, and names it per runtime dir', () => {
    expect(body.Labels).toEqual({
      'org.infra-lab.sandbox': 'sb-1', 'org.infra-lab.pool': 'p', 'org.infra-lab.runtime': '/rt', 'org.infra-lab.created-at': '1700000000000',
    })
    expect(containerName('abc123', 'sb-1')).toBe('infra-lab-abc123-sb-1')
  })
  it('demultiplexes the log stream', () => {
    const frame = (stream: number, s: string) => {
      const head = Buffer.alloc(8)
      head.writeUInt8(stream, 0)
      head.writeUInt32BE(Buffer.byteLength(s), 4)
      return Buffer.concat([head, Buffer.from(s)])
    }
    expect(demuxLogs(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')]))).toBe('out\nerr\n')
  })
})

const skip = await dockerSkipReason()
// The body of a skipped describe still runs while the file is collected: nothing in it may need
// the daemon, so the environment is made in beforeAll.
describe.skipIf(skip !== undefined)(`docker driver on this host${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof dockerTestEnv>> | undefined
  beforeAll(async () => { env = await dockerTestEnv('contract') })
  afterAll(() => env?.cleanup())
  runDriverContract('docker', () => env!.makeDriver())
})
