import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { DescribeClustersCommand, ECSClient, ListTasksCommand, RunTaskCommand, StopTaskCommand } from '@aws-sdk/client-ecs'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { benchEcsCommand, type BenchEcsFlags } from '../src/bench/ecs-command.ts'
import { pullShareOf } from '../src/bench/ecs-bench.ts'
import { CallCounter } from '../src/bench/ecs-calls.ts'
import type { EcsReport } from '../src/bench/ecs-report.ts'
import { FakeAgentBackend } from '../src/drivers/ecs/fake-backend.test-util.ts'
import { MockEcs } from '../src/drivers/ecs/mock-ecs.test-util.ts'

// (mock-ecs.test-util sets AWS_EC2_METADATA_DISABLED=true and fake credentials before any client exists)
const FAKE_CREDS = { AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKEFAKE', AWS_SECRET_ACCESS_KEY: 'fake', AWS_REGION: 'eu-west-1', AWS_EC2_METADATA_DISABLED: 'true' }

const sink = (onLine?: (s: string) => void) => {
  let text = ''
  return {
    stream: new Writable({ write(c, _e, cb) { text += String(c); onLine?.(String(c)); cb() } }),
    text: () => text,
  }
}

const flags = (o: Partial<BenchEcsFlags> = {}): BenchEcsFlags => ({
  cluster: 'lab', taskDefinition: 'lab-sandbox:3', subnets: 'subnet-a,subnet-b', securityGroups: 'sg-tasks',
  capacityProvider: ['lab-ec2:1:0'], samples: 2, warmup: 1, pollMs: 5, taskTimeoutS: 10, agentPort: 17400,
  user: 'bench-user', out: 'out', ...o,
})

describe('bench ecs', () => {
  let base: string
  let backend: FakeAgentBackend
  let ecs: MockEcs
  beforeEach(() => {
    expect(process.env.AWS_EC2_METADATA_DISABLED).toBe('true')
    base = mkdtempSync(join(tmpdir(), 'bench-ecs-test-'))
    backend = new FakeAgentBackend()
    ecs = new MockEcs(backend)
  })
  afterEach(async () => {
    await ecs.close()
    await backend.close()
    rmSync(base, { recursive: true, force: true })
  })

  function io(env: Record<string, string> = FAKE_CREDS, onErr?: (s: string) => void) {
    const stdout = sink()
    const stderr = sink(onErr)
    return { io: { cwd: base, env: { HOME: base, ...env }, stdout: stdout.stream, stderr: stderr.stream }, stdout, stderr }
  }
  const run = (t: ReturnType<typeof io>, f = flags(), signal = new AbortController().signal) =>
    benchEcsCommand(f, t.io, signal, { ecs: ecs.client, runId: 'infra-lab-bench-t1' })
  const report = () => JSON.parse(readFileSync(join(base, 'out', 'ecs-startup.json'), 'utf8')) as EcsReport
  const allStopped = () => [...ecs.tasks.values()].every((t) => t.task.lastStatus === 'STOPPED')

  it('without credentials says so, exits non-zero and calls nothing', async () => {
    const t = io({ AWS_EC2_METADATA_DISABLED: 'true' })
    expect(await run(t)).toBe(1)
    expect(t.stderr.text()).toContain('infra-lab bench ecs: no AWS credentials')
    expect(ecs.mock.calls()).toHaveLength(0)
    expect(existsSync(join(base, 'out'))).toBe(false)
  })

  it('refuses a missing cluster, task definition or subnets with where to set them (exit 2)', async () => {
    const t = io()
    expect(await run(t, flags({ cluster: undefined, subnets: undefined }))).toBe(2)
    expect(t.stderr.text()).toMatch(/ecs\.cluster: required.*--cluster, INFRA_LAB_ECS_CLUSTER/)
    expect(t.stderr.text()).toMatch(/ecs\.subnets: required/)
    expect(ecs.mock.calls()).toHaveLength(0)
  })

  it('runs cold tasks with the product RunTask request, claims each as warm, stops every task, and writes n, warm-up and the pull share', async () => {
    const statesAtStop: string[] = []
    const stop = backend.stop.bind(backend)
    backend.stop = async (id) => {
      statesAtStop.push(backend.agents.get(id)?.state ?? 'gone')
      return stop(id)
    }
    const t = io()
    expect(await run(t)).toBe(0)
    expect(statesAtStop).toEqual(['claimed', 'claimed', 'claimed'])
    expect(ecs.mock.commandCalls(DescribeClustersCommand)[0]!.args[0].input).toEqual({ clusters: ['lab'] })
    expect(ecs.runInputs).toHaveLength(3) // 1 warm-up + 2 samples
    for (const [i, input] of ecs.runInputs.entries()) {
      expect(input).toMatchObject({
        cluster: 'lab', taskDefinition: 'lab-sandbox:3', count: 1, startedBy: 'infra-lab-bench-t1', clientToken: `infra-lab-bench-t1-${i}`,
        capacityProviderStrategy: [{ capacityProvider: 'lab-ec2', weight: 1, base: 0 }],
        networkConfiguration: { awsvpcConfiguration: { subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-tasks'], assignPublicIp: 'DISABLED' } },
      })
      const override = input.overrides!.containerOverrides![0]!
      expect(override.cpu).toBeUndefined() // sizes come from the task definition
      expect(override.memory).toBeUndefined()
      expect(override.environment![0]!.name).toBe('AGENT_TLS_PSK')
    }
    expect([...backend.agents.values()]).toHaveLength(0) // all stopped again
    expect(ecs.mock.commandCalls(StopTaskCommand).map((c) => c.args[0].input.reason)).toEqual(Array(3).fill('infra-lab: bench ecs cleanup'))
    expect(ecs.mock.commandCalls(ListTasksCommand)[0]!.args[0].input).toMatchObject({ cluster: 'lab', startedBy: 'infra-lab-bench-t1' })
    expect(allStopped()).toBe(true)

    const r = report()
    expect(r.partial).toBe(false)
    const row = (what: string) => r.rows.find((x) => x.what.startsWith(what))!.ms
    expect(row('RunTask -> agent hello')).toMatchObject({ n: 2, warmup: 1 })
    expect(row('claim from the warm pool')).toMatchObject({ n: 2, warmup: 1 })
    expect(row('image pull')).toMatchObject({ n: 2 })
    expect(r.pullShare.n).toBe(2)
    expect(r.pullShare.median).toBeGreaterThan(0)
    expect(r.pullShare.median).toBeLessThanOrEqual(1)
    expect(r.cleanup).toEqual({ stopped: 3, failed: [] })
    expect(r.calls).toMatchObject({ retries: 0, throttledFailures: 0 })
    expect(r.command).toContain('bench ecs --cluster lab')
    expect(readFileSync(join(base, 'out', 'ecs-startup.md'), 'utf8')).toMatch(/\| cold \| RunTask -> agent hello \(total\) \| 2 \| 1 \|/)
    expect(t.stdout.text()).toMatch(/cold p50 .* \(n=2\), warm p50 .* \(n=2\)/)
  })

  it('a task that stops before hello fails the run (exit 1) and every task started is still stopped', async () => {
    let starts = 0
    const start = backend.start.bind(backend)
    backend.start = async (id) => {
      if (++starts === 2) throw new Error('CannotPullContainerError: pull access denied')
      return start(id)
    }
    const t = io()
    expect(await run(t)).toBe(1)
    expect(t.stderr.text()).toMatch(/bench ecs: .*task stopped before hello/)
    expect(ecs.runInputs).toHaveLength(2)
    expect(allStopped()).toBe(true)
    expect(ecs.mock.commandCalls(StopTaskCommand).length).toBeGreaterThanOrEqual(1) // the running one; the failed one was already STOPPED
    expect(report()).toMatchObject({ partial: true })
  })

  it('Ctrl-C during the run stops what it started and exits 130', async () => {
    const ac = new AbortController()
    const t = io(FAKE_CREDS, (line) => { if (line.includes('cold 1/')) ac.abort() })
    expect(await run(t, flags({ samples: 5, warmup: 0 }), ac.signal)).toBe(130)
    expect(ecs.runInputs.length).toBeLessThan(5)
    expect(ecs.runInputs.length).toBeGreaterThanOrEqual(1)
    expect(allStopped()).toBe(true)
    expect(report()).toMatchObject({ partial: true, cleanup: { failed: [] } })
  })

  it('says what to do when AWS refuses the credentials', async () => {
    ecs.mock.on(DescribeClustersCommand).rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }))
    const t = io()
    expect(await run(t)).toBe(1)
    expect(t.stderr.text()).toMatch(/cannot reach ECS: CredentialsProviderError.*set AWS credentials/)
    expect(ecs.mock.commandCalls(RunTaskCommand)).toHaveLength(0)
  })
})

describe('bench ecs statistics', () => {
  it('the pull share is the pull time over the whole cold path, clamped to 1, absent without pull times', () => {
    const at = (ms: number) => new Date(1_700_000_000_000 + ms)
    expect(pullShareOf({ pullStartedAt: at(1000), pullStoppedAt: at(45_000) }, 55_000)).toEqual({ pullMs: 44_000, pullShare: 0.8 })
    expect(pullShareOf({ pullStartedAt: at(0), pullStoppedAt: at(0) }, 800)).toEqual({ pullMs: 0, pullShare: 0 })
    expect(pullShareOf({ pullStartedAt: at(0), pullStoppedAt: at(2000) }, 1000)).toEqual({ pullMs: 2000, pullShare: 1 })
    expect(pullShareOf({ pullStartedAt: at(0) }, 1000)).toBeUndefined()
  })

  it('counts the SDK retries of throttled calls (the real retry strategy, scripted HTTP answers)', async () => {
    const script = [
      { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
      { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
      { status: 200, body: { taskArns: [] } },
      { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
      { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
      { status: 400, body: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
    ]
    const client = new ECSClient({
      region: 'eu-west-1', maxAttempts: 3, retryMode: 'standard', credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake' },
      requestHandler: {
        handle: async () => {
          const next = script.shift()!
          return { response: { statusCode: next.status, reason: '', headers: { 'content-type': 'application/x-amz-json-1.1' }, body: Readable.from([Buffer.from(JSON.stringify(next.body))]) } }
        },
      },
    })
    const counter = new CallCounter()
    await counter.send(() => client.send(new ListTasksCommand({ cluster: 'lab' })))
    expect(counter.total).toEqual({ calls: 1, retries: 2, throttledFailures: 0 })
    await expect(counter.send(() => client.send(new ListTasksCommand({ cluster: 'lab' })))).rejects.toMatchObject({ name: 'ThrottlingException' })
    expect(counter.total).toEqual({ calls: 2, retries: 4, throttledFailures: 1 })
    expect(script).toHaveLength(0)
  })
})
