import { execFileSync } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentChannel } from '../src/drivers/channel.ts'
import { waitForOutput } from '../src/drivers/contract.ts'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import type { SandboxDriver, SandboxHandle } from '../src/drivers/types.ts'

const MIB = 1024 ** 2
const QUOTA = 32 * MIB
const SHM = 8 * MIB
/** The local driver's /tmp is set small here; the Docker driver's stays at its 256 MiB. */
const LOCAL_TMP = 16 * MIB
/** Writes `mib` MiB of zeros to `path` (with coreutils the Docker image has: no dd or fallocate there). */
const write = (path: string, mib: number) => `head -c ${mib}M /dev/zero > ${path}`
const FILL_WORKSPACE = write('~/fill', (2 * QUOTA) / MIB)
const ENOSPC = /No space left on device/
/** `text` printed on a line of its own (the PTY's echo of the command never has it so). */
const printed = (text: string) => new RegExp(`(?:^|[\\r\\n])${text}\\r?\\n`)

/** Runs `cmd` in the shell and returns what it printed (the PTY echo of `cmd` included). */
let marker = 1000
async function sh(c: AgentChannel, cmd: string, timeoutMs = 20_000): Promise<string> {
  const n = ++marker
  // The marker is computed by the shell, so the echoed input never matches it.
  const done = waitForOutput(c, new RegExp(`__E${n}__`), timeoutMs)
  c.sendInput(Buffer.from(`${cmd}; echo __E$((${n - 1}+1))__\n`))
  return done
}

interface Env {
  readonly driver: SandboxDriver
  readonly dataDir: string
  readonly workspacesDir: string
  /** Commands that try to write more than the quota into the workspace (the Docker image has no fallocate). */
  readonly workspaceOverflow: readonly string[]
  /** Writes more than the /tmp tmpfs holds. */
  readonly tmpOverflow: string
  cleanup(): Promise<void>
}

/**
 * What one user may fill: their workspace (an image of QUOTA bytes), /tmp and /dev/shm
 * (tmpfs with sizes), memory (the pool's limit, where the OOM killer takes the user's
 * processes before the agent). None of it reaches another user, the sandbox's agent or the host.
 */
function resourceSuite(name: string, skip: string | undefined, setup: () => Promise<Env>): void {
  describe.skipIf(skip !== undefined)(`${name}: disk, tmpfs and memory limits${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let env: Env
    const handles: SandboxHandle[] = []
    const channels: AgentChannel[] = []
    const start = async (user: string, memoryMb: number) => {
      const h = await env.driver.create({ id: `res-${name}-${user}-${process.pid}`, pool: 'resources', limits: { pids: 128, memoryMb, cpus: 1 }, network: false, helloTimeoutMs: 20_000 })
      handles.push(h)
      const b = await env.driver.bindWorkspace(h, user)
      const c = await env.driver.connect(h)
      channels.push(c)
      await c.claim({ sessionId: `s-${user}`, user, home: b.home, env: {}, secrets: {} }, 10_000)
      return c
    }

    beforeAll(async () => {
      env = await setup()
      await mkdir(env.dataDir, { recursive: true })
    })
    afterAll(async () => {
      for (const c of channels) c.close()
      for (const h of handles) await env?.driver.destroy(h.id)
      await env?.cleanup()
      // The images stay; their loop devices do not.
      if (env) expect(execFileSync('losetup', ['-a'], { encoding: 'utf8' })).not.toContain(env.workspacesDir)
    })

    it("a full workspace gives the user ENOSPC; another user's workspace, the sandbox's /tmp and the host's data dir stay writable", async () => {
      const [alice, bob] = await Promise.all([start('alice', 256), start('bob', 256)])
      // (No 2>&1: the shell's stderr is the terminal too, and after `> file` it would go to the file.)
      for (const cmd of env.workspaceOverflow) expect(await sh(alice, cmd)).toMatch(ENOSPC)
      expect(await sh(alice, 'echo still-$((6*7)) > /tmp/after && cat /tmp/after')).toMatch(printed('still-42'))
      expect(await sh(bob, `${write('~/mine', 8)} && echo bob-$((1+1))`)).toMatch(printed('bob-2'))
      await writeFile(join(env.dataDir, 'still-writable'), Buffer.alloc(MIB))
      await writeFile(join(env.workspacesDir, 'still-writable'), Buffer.alloc(MIB))
      // Freeing space gives it back.
      expect(await sh(alice, `rm -f ~/fill ~/big && ${write('~/again', 8)} && echo again-$((2+2))`)).toMatch(printed('again-4'))
    })

    it('/tmp and /dev/shm are tmpfs of a bounded size: writing past it fails with ENOSPC', async () => {
      const c = await start('carol', 512)
      expect(await sh(c, env.tmpOverflow)).toMatch(ENOSPC)
      expect(await sh(c, write('/dev/shm/fill', (2 * SHM) / MIB))).toMatch(ENOSPC)
      expect(await sh(c, 'df -P /tmp /dev/shm | tail -n +2')).toMatch(/^tmpfs\s/m)
      expect(await sh(c, 'rm -f /tmp/fill /dev/shm/fill; echo ok-$((3+3))')).toMatch(printed('ok-6'))
    })

    it('a memory hog in the shell is killed before the agent: the session goes on', async () => {
      const c = await start('dave', 128)
      // The user's processes are the first victims, and cannot lower themselves below the agent.
      expect(await sh(c, 'cat /proc/self/oom_score_adj')).toMatch(printed('1000'))
      expect(await sh(c, '(echo -1 > /proc/self/oom_score_adj) 2>/dev/null || echo lower-refused')).toMatch(printed('lower-refused'))
      // Many hogs, each smaller than the agent: by size alone the agent would be the victim.
      const out = await sh(c, 'for i in $(seq 12); do (head -c 24M /dev/zero | tail > /dev/null; echo "hog=$?") & done; wait', 120_000)
      expect(out).toMatch(/hog=137/) // SIGKILL: the OOM killer acted
      expect(await sh(c, 'echo alive-$((20+22))')).toMatch(printed('alive-42'))
    })
  })
}

resourceSuite('local', localDriverSkipReason(), async () => {
  const env = await localTestEnv('reslim')
  const { LocalDriver } = await import('../src/drivers/local/local-driver.ts')
  const driver = new LocalDriver({ ...env.options, workspaceQuotaBytes: QUOTA, tmpSizeBytes: LOCAL_TMP, shmSizeBytes: SHM })
  await driver.init()
  return {
    driver, dataDir: env.options.dataDir, workspacesDir: env.workspacesDir, cleanup: env.cleanup,
    workspaceOverflow: ['fallocate -l 2G ~/big', FILL_WORKSPACE], tmpOverflow: write('/tmp/fill', (2 * LOCAL_TMP) / MIB),
  }
})

resourceSuite('docker', await dockerSkipReason(), async () => {
  const env = await dockerTestEnv('reslim')
  // As the CLI: INFRA_LAB_DOCKER_IMAGE names an image built from this tree's agent (npm run image:local builds the default).
  const image = process.env.INFRA_LAB_DOCKER_IMAGE
  const driver = await env.makeDriver({ workspaceQuotaBytes: QUOTA, shmSizeBytes: SHM, ...(image ? { image } : {}) })
  return {
    driver, dataDir: env.options.dataDir, workspacesDir: env.workspacesDir, cleanup: env.cleanup,
    workspaceOverflow: [FILL_WORKSPACE], tmpOverflow: write('/tmp/fill', 300),
  }
})
