import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runBenchApi } from '../src/bench/api-command.ts'
import { FakeAgentBackend } from '../src/drivers/ecs/fake-backend.test-util.ts'
import { MockEcs } from '../src/drivers/ecs/mock-ecs.test-util.ts'

// (mock-ecs.test-util sets AWS_EC2_METADATA_DISABLED=true and fake credentials before any client exists)
const ENV = {
  AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKEFAKE', AWS_SECRET_ACCESS_KEY: 'fake', AWS_REGION: 'eu-west-1', AWS_EC2_METADATA_DISABLED: 'true',
  INFRA_LAB_ECS_CLUSTER: 'lab', INFRA_LAB_ECS_TASK_DEFINITION: 'lab-sandbox:3', INFRA_LAB_ECS_SUBNETS: 'subnet-a',
}

describe('bench api --driver ecs (mocked ECS)', () => {
  let base: string
  let backend: FakeAgentBackend
  let ecs: MockEcs
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'bench-api-ecs-'))
    backend = new FakeAgentBackend()
    ecs = new MockEcs(backend)
  })
  afterEach(async () => {
    await ecs.close()
    await backend.close()
    rmSync(base, { recursive: true, force: true })
  })

  const io = (env: Record<string, string>) => {
    let err = ''
    const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb() } })
    return { io: { cwd: base, env: { HOME: base, ...env }, stdout: sink(() => undefined), stderr: sink((s) => (err += s)) }, err: () => err }
  }
  const flags = { driver: 'ecs', calls: 3, concurrency: 1, warmup: 1, out: 'out' }

  it('times create (RunTask -> hello), list, connect and destroy (StopTask), counts the AWS calls, and stops every task', async () => {
    const t = io(ENV)
    const outcome = await runBenchApi(flags, t.io, new AbortController().signal, { ecs: ecs.client })
    expect(outcome.code, t.err()).toBe(0)
    const json = JSON.parse(readFileSync(join(base, 'out', 'api-ecs.json'), 'utf8'))
    expect(json.results.map((r: { call: string }) => r.call)).toEqual(['create', 'list', 'connect', 'destroy'])
    expect(json.results.find((r: { call: string }) => r.call === 'create').latencyMs).toMatchObject({ n: 3, warmup: 1 })
    expect(json.awsCalls.calls).toBeGreaterThanOrEqual(ecs.mock.commandCalls((await import('@aws-sdk/client-ecs')).RunTaskCommand).length)
    expect(ecs.mock.commandCalls((await import('@aws-sdk/client-ecs')).RunTaskCommand)).toHaveLength(4)
    expect([...ecs.tasks.values()].every((x) => x.task.lastStatus === 'STOPPED')).toBe(true)
    expect(readFileSync(join(base, 'out', 'api-ecs.md'), 'utf8')).toMatch(/AWS calls: \d+; extra attempts/)
  })

  it('skips with a clear reason without credentials or without the cluster settings', async () => {
    const none = io({ AWS_EC2_METADATA_DISABLED: 'true' })
    expect(await runBenchApi(flags, none.io, new AbortController().signal, { ecs: ecs.client })).toMatchObject({ code: 0, skipped: expect.stringMatching(/no AWS credentials/) })
    const { INFRA_LAB_ECS_CLUSTER: _c, ...noCluster } = ENV
    const partial = io(noCluster)
    expect(await runBenchApi(flags, partial.io, new AbortController().signal, { ecs: ecs.client })).toMatchObject({ code: 0, skipped: expect.stringMatching(/ECS settings missing/) })
    expect(ecs.mock.commandCalls((await import('@aws-sdk/client-ecs')).RunTaskCommand)).toHaveLength(0)
  })
})
