import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DriverError } from '../types.ts'
import { loadSeccompFilter } from './seccomp.ts'

interface Rule { names: string[]; action: string; errnoRet?: number; args?: { index: number; value: number; valueTwo: number; op: string }[] }

describe('the sandboxes seccomp filter (built by scripts/build.mjs)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'ilab-seccomp-'))
  afterAll(() => rmSync(scratch, { recursive: true, force: true }))

  it('the BPF program is whole sock_filter entries, and the Docker profile is one line of JSON', () => {
    const f = loadSeccompFilter()
    expect(f.bpf.length).toBeGreaterThan(0)
    expect(f.bpf.length % 8).toBe(0)
    expect(f.dockerProfile).not.toContain('\n')
  })

  it('the Docker profile allows by default and denies the escape syscalls on x86_64, i386 and x32', () => {
    const p = JSON.parse(loadSeccompFilter().dockerProfile) as { defaultAction: string; archMap: unknown; syscalls: Rule[] }
    expect(p.defaultAction).toBe('SCMP_ACT_ALLOW')
    expect(p.archMap).toEqual([{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }])
    const eperm = p.syscalls.filter((r) => r.args === undefined && r.errnoRet === 1).flatMap((r) => r.names)
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open', 'ptrace',
      'process_vm_readv', 'process_vm_writev', 'userfaultfd', 'kexec_load', 'open_by_handle_at', 'init_module', 'pivot_root', 'fsopen', 'io_uring_setup']) {
      expect(eperm, name).toContain(name)
    }
    expect(p.syscalls.every((r) => r.action === 'SCMP_ACT_ERRNO')).toBe(true)
    expect(p.syscalls.find((r) => r.names.includes('clone3'))).toMatchObject({ errnoRet: 38 })
    const cloneFlags = p.syscalls.filter((r) => r.names[0] === 'clone').map((r) => r.args![0]!)
    // CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: each denied on its own.
    expect(cloneFlags.map((a) => a.value).sort((a, b) => a - b)).toEqual([0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000])
    for (const a of cloneFlags) expect(a).toMatchObject({ index: 0, valueTwo: a.value, op: 'SCMP_CMP_MASKED_EQ' })
  })

  it('refuses with what to install and run when the filter was never built', () => {
    expect(() => loadSeccompFilter([scratch])).toThrow(DriverError)
    expect(() => loadSeccompFilter([scratch])).toThrow(/apt-get install libseccomp-dev.*npm run build/)
  })

  it('refuses a torn BPF file', () => {
    writeFileSync(join(scratch, 'seccomp.bpf'), Buffer.alloc(12))
    writeFileSync(join(scratch, 'seccomp.json'), '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}')
    expect(() => loadSeccompFilter([scratch])).toThrow(/damaged/)
  })
})
