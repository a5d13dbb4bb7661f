import { describe, expect, it } from 'vitest'
import { AGENT_OOM_SCORE_ADJ, DEFAULT_SHM_SIZE_BYTES } from '../host/resources.ts'
import { containerBody, type ContainerInput } from './container-spec.ts'

const input: ContainerInput = {
  id: 'sb-1', pool: 'p', createdAt: 1, image: 'img', uid: 100000, limits: { pids: 64, memoryMb: 256, cpus: 1 },
  sockDir: '/rt/sandboxes/sb-1/sock', slotDir: '/rt/slots/sb-1', runtimeDir: '/rt', nodeFlags: [], maxOpenFiles: 4096,
}
const host = (c: ContainerInput) => containerBody(c).HostConfig as Record<string, unknown>

describe('what a Docker sandbox may consume besides its cgroup limits', () => {
  it('bounds /tmp and /dev/shm', () => {
    expect(host(input).Tmpfs).toEqual({ '/tmp': expect.stringMatching(/(^|,)size=256m(,|$)/) })
    expect(host(input).ShmSize).toBe(DEFAULT_SHM_SIZE_BYTES)
    expect(host({ ...input, shmSizeBytes: 8 << 20 }).ShmSize).toBe(8 << 20)
  })

  it("pins the agent's OOM score below the user's (the agent raises its shell to 1000)", () => {
    expect(host(input).OomScoreAdj).toBe(AGENT_OOM_SCORE_ADJ)
    expect(AGENT_OOM_SCORE_ADJ).toBeLessThan(1000)
  })
})
