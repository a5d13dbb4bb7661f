// exec through a real agent: real processes, real pipes, the real helper (lab-exec).
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AgentOpError } from './agent-ops.ts'
import { alive, claimedAgent, collect, ensureBundle, run, spec, until, type ClaimedAgent } from './agent-ops.test-util.ts'

describe('exec through the agent', () => {
  let a: ClaimedAgent

  beforeAll(async () => {
    ensureBundle()
    a = await claimedAgent({ env: { CLAIM_VAR: 'from-claim', PATH: '/usr/local/bin:/usr/bin:/bin' }, secrets: { API_TOKEN: 'sk-secret' } })
  }, 60_000)
  afterAll(async () => {
    await a?.stop()
  })

  it('passes the exit code, and keeps stdout and stderr apart', async () => {
    const r = await run(a.ch, 'echo out; echo err >&2; exit 3')
    expect(r).toMatchObject({ exitCode: 3, signal: null, timedOut: false, stdout: 'out\n', stderr: 'err\n' })
    expect(r.durationMs).toBeGreaterThan(0)
  })

  it('runs an argv without a shell: nothing in it is interpreted', async () => {
    const r = await run(a.ch, ['/bin/echo', '$HOME; `id`', 'a  b'])
    expect(r).toMatchObject({ exitCode: 0, stdout: '$HOME; `id`   a  b\n'.replace('   ', ' ') })
  })

  it("has the session's environment (claim env and secrets, identity) plus its own, in the user's home", async () => {
    const r = await run(a.ch, 'echo "$CLAIM_VAR $API_TOKEN $HOME $USER $LOGNAME $INFRA_LAB_SESSION_ID $OWN $PWD"; pwd', { env: { OWN: 'mine', CLAIM_VAR: 'overridden' } })
    expect(r.stdout).toBe(`overridden sk-secret ${a.home} alice alice ses-ops mine ${a.home}\n${a.home}\n`)
  })

  it('runs in a cwd relative to the home, or absolute; one that does not exist, or a missing program, is exec_failed', async () => {
    mkdirSync(join(a.home, 'sub'), { recursive: true })
    expect((await run(a.ch, 'pwd', { cwd: 'sub' })).stdout).toBe(`${join(a.home, 'sub')}\n`)
    expect((await run(a.ch, 'pwd', { cwd: '/tmp' })).stdout).toBe('/tmp\n')
    const err = await a.ch.ops.exec(spec('true', { cwd: 'nope' })).catch((e: AgentOpError) => e)
    expect(err).toBeInstanceOf(AgentOpError)
    expect([(err as AgentOpError).code, (err as AgentOpError).message]).toEqual(['exec_failed', `cannot enter ${join(a.home, 'nope')}: ENOENT`])
    await expect(a.ch.ops.exec(spec(['no-such-program-here']))).rejects.toEqual(new AgentOpError('exec_failed', 'cannot run no-such-program-here: ENOENT'))
  })

  it('gives stdin and closes it; without stdin a foreground command reads /dev/null', async () => {
    expect((await run(a.ch, 'cat', { stdin: Buffer.from('hello\nworld\n') })).stdout).toBe('hello\nworld\n')
    const big = randomBytes(3 * 1024 * 1024)
    const r = await run(a.ch, ['sha256sum'], { stdin: big })
    expect(r.stdout.split(' ')[0]).toBe(createHash('sha256').update(big).digest('hex'))
    expect((await run(a.ch, 'cat; echo end')).stdout).toBe('end\n')
  })

  it('runs on a terminal with tty: stdout carries its bytes, stdin comes through it', async () => {
    const r = await run(a.ch, 'tty; test -t 0 && test -t 1 && echo both-terminals; stty size', { tty: true })
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r\nboth-terminals\r\n24 80\r\n$/)
    expect(r.stderr).toBe('')
    const cat = await run(a.ch, 'cat', { tty: true, stdin: Buffer.from('typed\n') })
    expect(cat.stdout).toBe('typed\r\ntyped\r\n') // echoed by the terminal, then by cat; ^D ended it
  })

  it('reports the signal that ended a process, by name', async () => {
    const h = await a.ch.ops.exec(spec('sleep 30', { background: true }))
    await a.ch.ops.signalProcess(h.processId, 'SIGINT')
    expect(await h.exit).toMatchObject({ exitCode: null, signal: 'SIGINT', timedOut: false })
    await expect(a.ch.ops.signalProcess(h.processId, 'SIGTERM')).rejects.toMatchObject({ code: 'process_not_found' })
    await expect(a.ch.ops.signalProcess('proc-0000', 'SIGTERM')).rejects.toMatchObject({ code: 'process_not_found' })
  })

  it('a timeout ends every process the command started, also one that called setsid and double-forked', async () => {
    const pidFile = join(a.home, 'grandchild.pid')
    const r = await run(a.ch, `setsid sh -c 'sleep 300 & echo $! > ${pidFile}' & sleep 300`, { timeoutMs: 500 })
    expect(r).toMatchObject({ timedOut: true, exitCode: null, signal: 'SIGTERM' })
    const grandchild = Number(readFileSync(pidFile, 'utf8'))
    expect(grandchild).toBeGreaterThan(1)
    expect(alive(grandchild)).toBe(false)
  })

  it('a timeout sends SIGKILL 2 s after SIGTERM to what ignores it', async () => {
    const r = await run(a.ch, ['bash', '-c', "trap '' TERM; while :; do sleep 0.1; done"], { timeoutMs: 300 })
    expect(r).toMatchObject({ timedOut: true, signal: 'SIGKILL' })
    expect(r.durationMs).toBeGreaterThanOrEqual(2000)
  })

  it('what the main process leaves running is ended when it exits, before the exit is reported', async () => {
    const r = await run(a.ch, 'sleep 300 > /dev/null & echo $!')
    expect(r).toMatchObject({ exitCode: 0, timedOut: false })
    expect(alive(Number(r.stdout))).toBe(false)
  })

  it('an unread output pauses only its own process: the terminal and another exec go on, and nothing is dropped', async () => {
    const slow = await a.ch.ops.exec(spec('head -c 20000000 /dev/zero; echo done >&2'))
    await new Promise((r) => setTimeout(r, 300))
    // The terminal still answers...
    const seen: Buffer[] = []
    a.ch.on('output', (d) => seen.push(d))
    a.ch.sendInput(Buffer.from('echo terminal-$((40+2))\r'))
    await until('terminal output', () => Buffer.concat(seen).toString().includes('terminal-42'))
    // ...another exec runs to its end...
    expect((await run(a.ch, 'echo other')).stdout).toBe('other\n')
    // ...while the unread one has not finished: it waits on its pipe.
    const listed = (await a.ch.ops.listProcesses()).find((p) => p.processId === slow.processId)
    expect(listed).toMatchObject({ running: true })
    const out = await collect(slow.output!)
    expect(out.stdout.length).toBe(20_000_000)
    expect(out.stderr).toBe('done\n')
    expect(await slow.exit).toMatchObject({ exitCode: 0 })
  })

  it('destroying a foreground output cancels only the stream: the process runs to its exit', async () => {
    const h = await a.ch.ops.exec(spec('head -c 5000000 /dev/zero; exit 4'))
    h.output!.destroy()
    expect(await h.exit).toMatchObject({ exitCode: 4 })
  })

  it('operations run after the shell exited, until the sandbox goes', async () => {
    const other = await claimedAgent()
    try {
      const exited = new Promise((r) => other.ch.on('message', (m) => m.type === 'exit' && r(m)))
      other.ch.sendInput(Buffer.from('exit\r'))
      await exited
      expect((await run(other.ch, 'echo still')).stdout).toBe('still\n')
    } finally {
      await other.stop()
    }
  })

  it('refuses more than 64 running processes with too_many_processes', async () => {
    const started = []
    try {
      for (let i = 0; i < 64; i++) started.push(await a.ch.ops.exec(spec('sleep 60', { background: true })))
      await expect(a.ch.ops.exec(spec('true'))).rejects.toMatchObject({ code: 'too_many_processes' })
    } finally {
      await Promise.all(started.map((h) => a.ch.ops.signalProcess(h.processId, 'SIGKILL')))
      await Promise.all(started.map((h) => h.exit))
    }
    expect((await run(a.ch, 'echo room')).stdout).toBe('room\n')
  }, 60_000)
})

describe('exec before and during the claim', () => {
  it('fails with not_claimed before a claim, and waits for one being applied', async () => {
    ensureBundle()
    const { startAgent } = await import('../../../agent/src/agent-harness.test-util.ts')
    const { AgentChannel } = await import('./channel.ts')
    const { connect } = await import('node:net')
    const agent = startAgent('sbx-unclaimed')
    try {
      await until('the socket', async () => {
        try {
          const s = connect(agent.socketPath)
          await new Promise((r, j) => s.once('connect', r).once('error', j))
          s.destroy()
          return true
        } catch {
          return false
        }
      })
      const s = connect(agent.socketPath)
      const ch = await AgentChannel.open(s, 5000)
      await expect(ch.ops.exec(spec('true'))).rejects.toMatchObject({ code: 'not_claimed' })
      mkdirSync(join(agent.dir, 'home'))
      const claimed = ch.claim({ sessionId: 'ses-1', user: 'bob', home: join(agent.dir, 'home'), env: {}, secrets: {} }, 5000)
      const r = await run(ch, 'echo $USER') // sent right behind the claim
      expect(r.stdout).toBe('bob\n')
      await claimed
      ch.close()
    } finally {
      await agent.stop()
    }
  })
})
