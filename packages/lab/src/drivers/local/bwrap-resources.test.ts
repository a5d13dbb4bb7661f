import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { AGENT_OOM_SCORE_ADJ, DEFAULT_SHM_SIZE_BYTES, DEFAULT_TMP_SIZE_BYTES } from '../host/resources.ts'
import { bwrapArgs, wrapperScript, type SandboxCommandInput } from './bwrap-args.ts'

const input: SandboxCommandInput = {
  id: 'sb-1', hostUid: 100000,
  hostRoot: { bin: { kind: 'symlink', target: 'usr/bin' }, lib: { kind: 'symlink', target: 'usr/lib' }, lib64: { kind: 'dir' }, sbin: { kind: 'absent' } },
  sockDir: '/rt/sandboxes/sb-1/sock', agentDir: '/rt/agent', slotDir: '/rt/slots/sb-1', passwd: '/rt/etc/passwd', group: '/rt/etc/group',
  nodePath: '/usr/bin/node', nodeFlags: [], cgroupProcs: [], maxOpenFiles: 4096,
}

describe('what a local sandbox may consume besides its cgroup limits', () => {
  it('gives /tmp and /dev/shm a size: --size comes right before its --tmpfs', () => {
    const a = bwrapArgs({ ...input, tmpSizeBytes: 16 << 20, shmSizeBytes: 8 << 20 }).join(' ')
    expect(a).toContain(`--size ${16 << 20} --tmpfs /tmp`)
    expect(a).toContain(`--size ${8 << 20} --tmpfs /dev/shm`)
    const d = bwrapArgs(input).join(' ')
    expect(d).toContain(`--size ${DEFAULT_TMP_SIZE_BYTES} --tmpfs /tmp`)
    expect(d).toContain(`--size ${DEFAULT_SHM_SIZE_BYTES} --tmpfs /dev/shm`)
    expect(d.match(/--tmpfs/g)).toHaveLength(2) // nothing else writable and unbounded
  })

  it("the root wrapper resets the OOM score of all it starts, even from the gateway's, and the sandbox uid cannot go below it", () => {
    if (process.getuid?.() !== 0) return // setpriv needs root
    // What the agent and the user's shell (raised to 1000 by the agent) can do, as the sandbox uid,
    // started from a gateway that was made a likely victim itself.
    const probe = [
      'cat /proc/self/oom_score_adj',
      '(echo 1000 > /proc/self/oom_score_adj && cat /proc/self/oom_score_adj)',
      `(echo ${AGENT_OOM_SCORE_ADJ - 1} > /proc/self/oom_score_adj) 2>&1 || echo below-refused`,
      `(echo ${AGENT_OOM_SCORE_ADJ} > /proc/self/oom_score_adj && echo floor-ok)`,
    ].join('; ')
    const wrapper = `echo 300 > /proc/self/oom_score_adj; exec /bin/sh -c '${wrapperScript([], 256)}' "$@"`
    const r = spawnSync('/bin/sh', ['-c', wrapper, 'sh', 'sh', 'setpriv', '--reuid=100000', '--regid=100000', '--clear-groups', '--', 'sh', '-c', probe], { encoding: 'utf8' })
    expect(r.status, r.stderr).toBe(0)
    const lines = r.stdout.trim().split('\n')
    expect(lines[0]).toBe(String(AGENT_OOM_SCORE_ADJ))
    expect(lines[1]).toBe('1000')
    expect(r.stdout).toContain('below-refused')
    expect(lines.at(-1)).toBe('floor-ok')
  })
})
