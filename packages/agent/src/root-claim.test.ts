// The claim on ECS runs in a warm shell that is still root: the caller's environment must not
// reach any process before the drop to the user's uid, nothing before it may be found through a
// caller's PATH, and the task's own AWS_* / ECS_* variables and the agent's environment stay out
// of the user's reach. The built agent runs as root with --workspaces-root on a temporary dir.
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RESERVED_ENV_PROBLEM } from '@infra-lab/protocol/limits-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SANDBOX_ENV, TestClient, bundlePath, ensureBundle } from './agent-harness.test-util.ts'
import { preferredUid } from './user-workspace.ts'

const isRoot = process.getuid?.() === 0
const hasSetpriv = spawnSync('/usr/bin/setpriv', ['--version']).status === 0
const skip = !isRoot ? 'needs root: run the tests as root' : !hasSetpriv ? 'setpriv is not installed (apt-get install util-linux)' : undefined

/** What ECS puts in a task's environment, and so in the agent's (plus the agent's own key). */
const TASK_ENV = {
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/task-role-creds',
  AWS_EXECUTION_ENV: 'AWS_ECS_EC2',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  ECS_CONTAINER_METADATA_URI_V4: 'http://169.254.170.2/v4/task-metadata',
  ECS_AGENT_URI: 'http://169.254.170.2/api/agent',
  AGENT_TLS_PSK: 'ab'.repeat(32),
}
/** Programs a root process might look up through PATH; each fake records who ran it. */
const FAKED = ['setpriv', 'bash', 'sh', 'env', 'id', 'cat', 'tr', 'mkfifo', 'node']

describe.skipIf(skip !== undefined)(`agent --workspaces-root as root: the claim before and after the drop${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const base = mkdtempSync(join(tmpdir(), 'agent-root-claim-'))
  const shared = join(base, 'shared')
  const evil = join(base, 'evil-bin')
  const records = join(base, 'records')
  const agents: Array<() => void> = []

  beforeAll(() => {
    ensureBundle()
    chmodSync(base, 0o755)
    mkdirSync(shared, { mode: 0o711 })
    mkdirSync(evil, { mode: 0o755 })
    // writable by every uid, and not sticky: fs.protected_regular would refuse the appends
    mkdirSync(records, { mode: 0o777 })
    chmodSync(records, 0o777)
    writeFileSync(join(records, 'ran'), '')
    chmodSync(join(records, 'ran'), 0o666)
    for (const name of FAKED) {
      const real = ['/usr/bin', '/bin'].map((d) => join(d, name)).find((p) => spawnSync('/usr/bin/test', ['-x', p]).status === 0)
      writeFileSync(join(evil, name), [
        '#!/bin/sh',
        `/usr/bin/printf '%s %s\\n' ${name} "$(/usr/bin/id -u)" >> ${join(records, 'ran')}`,
        real ? `exec ${real} "$@"` : 'exit 127',
        '',
      ].join('\n'), { mode: 0o755 })
    }
  }, 60_000)
  afterAll(() => {
    agents.forEach((stop) => stop())
    rmSync(base, { recursive: true, force: true })
  })

  async function startAgent(sandboxId: string): Promise<{ client: TestClient; pid: number; socketPath: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'agent-root-claim-it-'))
    const child = spawn(process.execPath, [bundlePath, '--socket', join(dir, 'agent.sock'), '--sandbox-id', sandboxId, '--state-dir', join(dir, 'state'), '--workspaces-root', shared], {
      cwd: '/', env: { ...SANDBOX_ENV, ...TASK_ENV }, stdio: ['ignore', 'ignore', 'ignore'], detached: true,
    })
    agents.push(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {
        // gone
      }
      rmSync(dir, { recursive: true, force: true })
    })
    const client = await TestClient.connect(join(dir, 'agent.sock'))
    const hello = await client.message('hello')
    return { client, pid: hello.pid, socketPath: join(dir, 'agent.sock') }
  }

  async function run(client: TestClient, cmd: string, marker: string): Promise<string> {
    const from = client.output.length
    client.input(`${cmd}; echo ${marker}"-"done\r`) // the echoed command line does not match
    const m = await client.outputMatching(new RegExp(`\\n([\\s\\S]*?)${marker}-done\\r?\\n`), from)
    return m[1]!
  }

  it("runs no caller program as root, applies the caller's env only in the user's shell, and keeps the task's AWS_*/ECS_* out", async () => {
    const user = 'mallory'
    const uid = preferredUid(user)
    // the user's own ~/.bashrc, read by the user's shell after the drop
    mkdirSync(join(shared, user), { mode: 0o700 })
    writeFileSync(join(shared, user, '.bashrc'), 'BASHRC_RAN_AS=$UID\n')
    const callerPath = `${evil}:/usr/bin:/bin`
    const { client, pid: agentPid } = await startAgent('sbx-mallory')
    client.send({
      type: 'claim', sessionId: 'ses-mallory', user, home: '/ignored',
      env: { PATH: callerPath, AWS_REGION: 'eu-west-1', CALLER_MARK: 'from-caller' },
      secrets: { AWS_SECRET_ACCESS_KEY: 'caller-secret' },
    })
    await client.message('ready')
    await client.outputMatching(new RegExp(`${user}@sandbox:.*\\$ $`))

    // soft: on a broken agent, every leak below is reported, not only the first
    const shell = await run(client, 'echo "path=$PATH uid=$(id -u) pwd=$PWD"', 'm1')
    expect.soft(shell).toContain(`path=${callerPath} uid=${uid} pwd=${join(shared, user)}`)
    const ran = readFileSync(join(records, 'ran'), 'utf8').trim().split('\n')
    expect.soft(ran).toContain(`id ${uid}`) // the fakes do record: the user's shell found them on its PATH
    expect.soft(ran.filter((line) => line.endsWith(' 0')), 'caller programs run as uid 0').toEqual([])

    const env = await run(client, 'env', 'm2')
    expect.soft(env).toMatch(/^AWS_REGION=eu-west-1\r?$/m)
    expect.soft(env).toMatch(/^AWS_SECRET_ACCESS_KEY=caller-secret\r?$/m)
    expect.soft(env).toMatch(/^CALLER_MARK=from-caller\r?$/m)
    for (const name of Object.keys(TASK_ENV).filter((n) => n !== 'AWS_REGION')) expect.soft(env).not.toContain(`${name}=`)

    // The environment the user's bash was started with is the one setpriv ran with as root.
    const initial = await run(client, "tr '\\0' '\\n' < /proc/$$/environ", 'm3')
    expect.soft(initial).toContain('PATH=/usr/local/bin:/usr/bin:/bin')
    for (const leaked of ['CALLER_MARK', 'caller-secret', evil, 'eu-west-1', 'AWS_', 'ECS_']) expect.soft(initial).not.toContain(leaked)

    const peek = await run(client, `cat /proc/${agentPid}/environ 2>&1 | tr '\\0' '\\n'`, 'm4')
    expect(readFileSync(`/proc/${agentPid}/environ`, 'utf8')).toContain('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=')
    expect.soft(peek).toMatch(/Permission denied/)
    expect.soft(peek).not.toContain('AWS_CONTAINER_CREDENTIALS')

    expect.soft(await run(client, 'echo "bashrc=$BASHRC_RAN_AS"', 'm5')).toContain(`bashrc=${uid}`)
    expect(readFileSync(join(records, 'ran'), 'utf8').split('\n').filter((line) => line.endsWith(' 0'))).toEqual([])
  }, 30_000)

  it('carries tricky and large values byte for byte through the drop (more than a pipe buffer in all)', async () => {
    const values: Record<string, string> = {
      QUOTES: "it's a 'quoted' \"value\"", NEWLINES: 'one\ntwo\n\n', DOLLAR: '$HOME $(id) `id` ${PATH}', BACKSLASH: 'a\\b\\',
      EMPTY: '', UNICODE: 'héllo → 世界 🦀', BIG1: 'x'.repeat(32 * 1024), BIG2: "'".repeat(32 * 1024), BIG3: '世'.repeat(10_000),
    }
    const { client } = await startAgent('sbx-values')
    client.send({ type: 'claim', sessionId: 'ses-values', user: 'valerie', home: '/ignored', env: values, secrets: { BIG4: 'é'.repeat(16 * 1024) } })
    await client.message('ready')
    const all = { ...values, BIG4: 'é'.repeat(16 * 1024) }
    const out = await run(client, `for v in ${Object.keys(all).join(' ')}; do printf '%s=' "$v"; printf '%s' "\${!v}" | /usr/bin/sha256sum; done`, 'v1')
    for (const [name, value] of Object.entries(all)) {
      expect(out, name).toContain(`${name}=${createHash('sha256').update(value).digest('hex')}`)
    }
    // read from the pipe by the rc file: neither on the terminal nor in the history
    expect(client.text).not.toContain('export ')
    expect(await run(client, 'history | grep -c -e "expor[t] " -e "__clai[m]"', 'v2')).toMatch(/^0\r?$/m)
  }, 30_000)

  it('refuses LD_PRELOAD, BASH_ENV and the like in the claim itself, and stays warm for a valid one', async () => {
    const { client } = await startAgent('sbx-preload')
    const names = ['LD_PRELOAD', 'LD_AUDIT', 'BASH_ENV', 'ENV', 'PROMPT_COMMAND', 'IFS', 'INFRA_LAB_X', 'AGENT_TLS_PSK']
    for (const [i, name] of names.entries()) {
      const field = i % 2 === 0 ? 'env' : 'secrets'
      const from = client.messages.length
      client.send({ type: 'claim', sessionId: `ses-${i}`, user: 'eve', home: '/ignored', env: {}, secrets: {}, [field]: { [name]: join(evil, 'x.so') } })
      const err = await client.message('error', from)
      expect(err).toMatchObject({ code: 'bad_message', message: `invalid message: ${field}.${name}: ${RESERVED_ENV_PROBLEM}` })
    }
    client.send({ type: 'claim', sessionId: 'ses-ok', user: 'eve', home: '/ignored', env: { LD_LIBRARY_PATH: '/opt/lib' }, secrets: {} })
    await client.message('ready')
    expect(await run(client, 'echo "llp=$LD_LIBRARY_PATH"', 'p1')).toContain('llp=/opt/lib')
  }, 30_000)

  it("relays every connection's operations through the one user worker, each under its own ids", async () => {
    const { client, socketPath } = await startAgent('sbx-replicas')
    client.send({ type: 'claim', sessionId: 'ses-replicas', user: 'rita', home: '/ignored', env: {}, secrets: {} })
    await client.message('ready')
    const second = await TestClient.connect(socketPath)
    await second.message('hello')
    const exec = (opId: number, cmd: string) => ({ type: 'exec', opId, cmd: ['sh', '-c', cmd], env: {}, stdin: false, timeoutMs: 20_000, background: false, tty: false })
    // the same id on both connections at once
    client.send(exec(7, 'exit 3'))
    second.send(exec(7, 'exit $(id -u | cut -c1)'))
    expect(await client.message('exec_exit')).toMatchObject({ opId: 7, exitCode: 3 })
    const uid = preferredUid('rita')
    expect(await second.message('exec_exit')).toMatchObject({ opId: 7, exitCode: Number(String(uid)[0]) })
    // a connection that goes away takes its operations with it; the other's go on
    client.send(exec(9, 'sleep 20'))
    await client.message('started')
    client.close()
    second.send(exec(9, 'exit 4'))
    expect(await second.message('exec_exit', second.messages.findIndex((m) => m.type === 'exec_exit') + 1)).toMatchObject({ opId: 9, exitCode: 4 })
    second.close()
  }, 30_000)
})
