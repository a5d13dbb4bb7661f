// The caller's env on the drivers whose shell is unprivileged from the start (local, Docker):
// applied in the shell, PATH included, while a reserved name never gets that far.
import { randomBytes } from 'node:crypto'
import { RESERVED_ENV_PROBLEM } from '@infra-lab/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentChannel } from '../src/drivers/channel.ts'
import { waitForOutput } from '../src/drivers/contract.ts'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import type { SandboxDriver } from '../src/drivers/types.ts'

const CALLER_ENV = { PATH: '/opt/caller/bin:/usr/bin:/bin', AWS_REGION: 'eu-west-1', LD_LIBRARY_PATH: '/opt/caller/lib', NODE_ENV: 'production' }

interface TestEnv { makeDriver(): Promise<SandboxDriver>; cleanup(): Promise<void> }
const drivers: Array<[string, string | undefined, () => Promise<TestEnv>]> = [
  ['local', localDriverSkipReason(), () => localTestEnv('claim-env')],
  ['docker', await dockerSkipReason(), () => dockerTestEnv('claim-env')],
]

for (const [name, skip, makeEnv] of drivers) {
  describe.skipIf(skip !== undefined)(`claim env on the ${name} driver${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let env: TestEnv | undefined
    let driver: SandboxDriver
    const created: string[] = []
    const channels: AgentChannel[] = []
    beforeAll(async () => {
      env = await makeEnv()
      driver = await env.makeDriver()
    }, 120_000)
    afterAll(async () => {
      for (const c of channels) c.close()
      for (const id of created) await driver.destroy(id)
      await env?.cleanup()
    })

    async function warmChannel(): Promise<{ channel: AgentChannel; home: string }> {
      const id = `ce-${randomBytes(4).toString('hex')}`
      created.push(id)
      const h = await driver.create({ id, pool: 'claim-env', limits: { pids: 128, memoryMb: 256, cpus: 1 }, network: false, helloTimeoutMs: 15_000 })
      const { home } = await driver.bindWorkspace(h, 'carol')
      const channel = await driver.connect(h)
      channels.push(channel)
      return { channel, home }
    }

    it("applies the caller's env, PATH included, in the user's shell", async () => {
      const { channel, home } = await warmChannel()
      await channel.claim({ sessionId: 's-env', user: 'carol', home, env: CALLER_ENV, secrets: { AWS_SECRET_ACCESS_KEY: 'caller-secret' } }, 15_000)
      const out = waitForOutput(channel, /vars-done/)
      channel.sendInput(Buffer.from('echo "path=$PATH region=$AWS_REGION llp=$LD_LIBRARY_PATH node=$NODE_ENV key=$AWS_SECRET_ACCESS_KEY uid=$(id -u)"; echo vars"-"done\n'))
      const text = await out
      expect(text).toContain(`path=${CALLER_ENV.PATH} region=eu-west-1 llp=/opt/caller/lib node=production key=caller-secret uid=`)
      expect(text).not.toMatch(/uid=0\b/)
    })

    it('the agent refuses a claim that sets a reserved name, and a valid claim still works', async () => {
      const { channel, home } = await warmChannel()
      await expect(channel.claim({ sessionId: 's-bad', user: 'carol', home, env: { LD_PRELOAD: '/tmp/evil.so' }, secrets: {} }, 15_000))
        .rejects.toThrow(`env.LD_PRELOAD: ${RESERVED_ENV_PROBLEM}`)
      await expect(channel.claim({ sessionId: 's-ok', user: 'carol', home, env: {}, secrets: {} }, 15_000)).resolves.toMatchObject({ sessionId: 's-ok' })
    })
  })
}
