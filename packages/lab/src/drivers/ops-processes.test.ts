// Background processes through a real agent: the table, output replay and follow, stdin, signals.
import { PassThrough } from 'node:stream'
import { MAX_ENDED_PROCESSES, PROCESS_OUTPUT_BYTES, SANDBOX_OUTPUT_BYTES } from '@infra-lab/protocol'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { claimedAgent, collect, ensureBundle, spec, until, type ClaimedAgent } from './agent-ops.test-util.ts'

describe('background processes through the agent', () => {
  let a: ClaimedAgent

  beforeAll(async () => {
    ensureBundle()
    a = await claimedAgent()
  }, 60_000)
  afterAll(async () => {
    await a?.stop()
  })

  const replay = async (processId: string, follow = false) => collect(await a.ch.ops.processOutput(processId, follow))

  it('starts in the background with its pid, is listed running then ended, and its output is replayed', async () => {
    const h = await a.ch.ops.exec(spec('echo one; echo two >&2; read -t 2 x; echo three', { background: true }))
    expect(h.output).toBeUndefined()
    expect(h.processId).toMatch(/^proc-[0-9a-f]{16}$/)
    expect(h.pid).toBeGreaterThan(1)
    const running = (await a.ch.ops.listProcesses()).find((p) => p.processId === h.processId)
    expect(running).toMatchObject({ pid: h.pid, cmd: 'echo one; echo two >&2; read -t 2 x; echo three', running: true, exitCode: null, signal: null })
    expect(Date.parse(running!.startedAt)).not.toBeNaN()
    expect(await h.exit).toMatchObject({ exitCode: 0, signal: null })
    expect((await a.ch.ops.listProcesses()).find((p) => p.processId === h.processId)).toMatchObject({ running: false, exitCode: 0 })
    const out = await replay(h.processId)
    expect([out.stdout, out.stderr]).toEqual(['one\nthree\n', 'two\n'])
    expect(out.chunks.map((c) => c.stream)).toEqual(['stdout', 'stderr', 'stdout'])
  })

  it('follow streams what is kept, then live output, and ends when a signal ends the process', async () => {
    const h = await a.ch.ops.exec(spec('echo start; while :; do echo tick; sleep 0.05; done', { background: true }))
    const follow = await a.ch.ops.processOutput(h.processId, true)
    const seen: string[] = []
    const done = (async () => {
      for await (const c of follow) seen.push(c.data.toString())
    })()
    await until('three ticks', () => seen.join('').split('tick').length > 3)
    expect(seen.join('')).toMatch(/^start\ntick\n/)
    await a.ch.ops.signalProcess(h.processId, 'SIGTERM')
    await done
    expect(await h.exit).toMatchObject({ exitCode: null, signal: 'SIGTERM' })
    expect((await a.ch.ops.listProcesses()).find((p) => p.processId === h.processId)).toMatchObject({ running: false, signal: 'SIGTERM' })
  })

  it('takes stdin in several writes, and closes it on request', async () => {
    const h = await a.ch.ops.exec(spec(['cat'], { background: true }))
    expect(await a.ch.ops.writeStdin(h.processId, new PassThrough().end('abc\n'))).toEqual({ bytes: 4 })
    expect(await a.ch.ops.writeStdin(h.processId, new PassThrough().end(Buffer.alloc(600_000, 'x')), true)).toEqual({ bytes: 600_000 })
    expect(await h.exit).toMatchObject({ exitCode: 0 })
    const out = await replay(h.processId)
    expect(out.stdout.length).toBe(600_004)
    expect(out.stdout.startsWith('abc\nxxx')).toBe(true)
    await expect(a.ch.ops.writeStdin(h.processId, new PassThrough().end('late'))).rejects.toMatchObject({ code: 'process_not_found' })
  })

  it('keeps the newest 1 MiB of a process', async () => {
    const h = await a.ch.ops.exec(spec('seq 1 400000', { background: true }))
    await h.exit
    const out = await replay(h.processId)
    expect(out.stdout.length).toBe(PROCESS_OUTPUT_BYTES)
    expect(out.stdout.endsWith('\n399999\n400000\n')).toBe(true)
  })

  it('keeps 8 MiB for all processes together, taking from ended ones first', async () => {
    const hs = []
    for (let i = 0; i < 10; i++) {
      // One after the other: which is oldest must not depend on which finished first.
      hs.push(await a.ch.ops.exec(spec(`head -c 1500000 /dev/zero | tr '\\0' ${i}`, { background: true })))
      await hs.at(-1)!.exit
    }
    const kept = []
    for (const h of hs) kept.push((await replay(h.processId)).stdout.length)
    expect(kept.reduce((n, k) => n + k, 0)).toBeLessThanOrEqual(SANDBOX_OUTPUT_BYTES)
    expect(kept.at(-1)).toBe(PROCESS_OUTPUT_BYTES) // the newest keeps all it may
    expect(kept[0]).toBeLessThan(PROCESS_OUTPUT_BYTES) // the oldest gave way
  }, 60_000)

  it('a follower that does not read never pauses the process; it skips ahead to what is kept', async () => {
    const h = await a.ch.ops.exec(spec('for i in $(seq 1 30); do head -c 100000 /dev/zero | tr "\\0" a; echo; done; echo last', { background: true }))
    const follow = await a.ch.ops.processOutput(h.processId, true)
    expect(await h.exit).toMatchObject({ exitCode: 0 }) // ran to its end with its reader idle
    const out = await collect(follow)
    expect(out.stdout.endsWith('\nlast\n')).toBe(true)
    expect(out.stdout.length).toBeLessThan(30 * 100_001 + 5) // some was skipped...
    expect(out.stdout.length).toBeGreaterThanOrEqual(PROCESS_OUTPUT_BYTES) // ...but nothing that was kept
  })

  it(`forgets the oldest ended process past ${MAX_ENDED_PROCESSES}`, async () => {
    const first = await a.ch.ops.exec(spec('true', { background: true }))
    await first.exit
    for (let i = 0; i < MAX_ENDED_PROCESSES; i++) await (await a.ch.ops.exec(spec('true', { background: true }))).exit
    const list = await a.ch.ops.listProcesses()
    expect(list.filter((p) => !p.running).length).toBe(MAX_ENDED_PROCESSES)
    expect(list.some((p) => p.processId === first.processId)).toBe(false)
    await expect(a.ch.ops.processOutput(first.processId, false)).rejects.toMatchObject({ code: 'process_not_found' })
  }, 120_000)
})
