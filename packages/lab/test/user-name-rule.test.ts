// One user-name rule (packages/protocol, limits-core.ts) everywhere a name is checked: the API,
// the agent's validator and workspace code, the host drivers' workspaces and the ECS driver.
// The same names go to each; a place with its own rule would disagree on one of them.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ECSClient } from '@aws-sdk/client-ecs'
import { USER_NAME_PATTERN, isValidUserName, userNameSchema } from '@infra-lab/protocol'
import { parseGatewayMessage } from '@infra-lab/protocol/lite'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { prepareUserWorkspace } from '../../agent/src/user-workspace.ts'
import { EcsDriver } from '../src/drivers/ecs/ecs-driver.ts'
import { FakeDriver } from '../src/drivers/fake/fake-driver.ts'
import { ensureWorkspace } from '../src/drivers/host/workspace.ts'
import type { SandboxHandle } from '../src/drivers/types.ts'
import { auth, startTestGateway } from '../src/gateway/test-gateway.test-util.ts'

const ACCEPTED = ['alice', 'alice.b', '_x', '-y', '-', 'A9', 'a..', 'a'.repeat(64), 'b.'.repeat(32)]
const REJECTED = ['.alice', '..', '.', '.uids', 'a/b', '../x', 'a'.repeat(65), '', 'a b', 'é', 'a\u0000', 'a\\b', 'al:ice']
const isRoot = process.getuid?.() === 0
const scratch = mkdtempSync(join(tmpdir(), 'user-name-rule-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const claimOf = (user: string) => ({ type: 'claim', sessionId: 's-1', user, home: '/h', env: {}, secrets: {} })
const ecs = new EcsDriver(
  { cluster: 'c', taskDefinition: 't', subnets: ['s'], securityGroups: ['g'], agentKey: Buffer.alloc(32), logger: pino({ level: 'silent' }) },
  { client: new ECSClient({ region: 'us-east-1' }) },
)
const ecsHandle: SandboxHandle = { id: 'ecs-1', pool: 'p', driver: 'ecs', createdAt: 0, address: { kind: 'tcp', host: '127.0.0.1', port: 1 }, meta: {} }
const accepts = async (f: () => unknown) => Promise.resolve().then(f).then(() => true, (err: Error) => {
  if (!/invalid user name/.test(err.message)) throw err
  return false
})

/** Each place that checks a user name, as `name -> accepted?`. */
const checks: Record<string, (user: string) => Promise<boolean>> = {
  'protocol isValidUserName': async (u) => isValidUserName(u),
  'protocol zod schema (the API and the gateway -> agent message)': async (u) => userNameSchema.safeParse(u).success,
  "agent's zod-free claim validator": async (u) => parseGatewayMessage(claimOf(u)).ok,
  'ECS driver bindWorkspace': (u) => accepts(() => ecs.bindWorkspace(ecsHandle, u)),
  'local/docker workspace (drivers/host)': (u) => accepts(() => ensureWorkspace(join(scratch, 'host'), u, { uid: process.getuid!(), quotaBytes: 0, logger: pino({ level: 'silent' }) })),
}
// The agent makes the user's uid-owned directory, which needs root for the chown.
if (isRoot) checks["agent's per-user workspace (ECS)"] = (u) => accepts(() => prepareUserWorkspace(join(scratch, 'agent'), u))

describe(`one user-name rule: ${USER_NAME_PATTERN}`, () => {
  for (const [where, check] of Object.entries(checks)) {
    it(`${where} accepts and refuses the same names`, async () => {
      for (const user of ACCEPTED) expect(await check(user), JSON.stringify(user)).toBe(true)
      for (const user of REJECTED) expect(await check(user), JSON.stringify(user)).toBe(false)
    })
  }

  it('the API answers 400 naming `user` for each refused name, and creates sessions for the accepted ones', async () => {
    const gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 0 }, maxSize: ACCEPTED.length }] })
    try {
      const post = (user: string) => gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { ...auth, 'content-type': 'application/json' }, payload: { user } })
      for (const user of REJECTED) {
        const res = await post(user)
        expect(res.statusCode, JSON.stringify(user)).toBe(400)
        expect(res.json().error.details[0]).toMatchObject({ field: 'user', message: `must match ${USER_NAME_PATTERN}` })
      }
      for (const user of ACCEPTED) expect((await post(user)).statusCode, JSON.stringify(user)).toBe(201)
    } finally {
      await gw.cleanup()
    }
  })
})
