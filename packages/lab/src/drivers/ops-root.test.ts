// The root agent of ECS (`--workspaces-root`): operations never run as root. The built agent runs
// as root on a temporary workspaces root; every command and file call must reach the sandbox
// only as the user's own uid, through the same drop as the shell.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SANDBOX_ENV, bundlePath } from '../../../agent/src/agent-harness.test-util.ts'
import { preferredUid } from '../../../agent/src/user-workspace.ts'
import { AgentOpError } from './agent-ops.ts'
import { collect, ensureBundle, run, spec, until } from './agent-ops.test-util.ts'
import { AgentChannel } from './channel.ts'

const isRoot = process.getuid?.() === 0
const hasSetpriv = spawnSync('/usr/bin/setpriv', ['--version']).status === 0
const skip = !isRoot ? 'needs root: run the tests as root' : !hasSetpriv ? 'setpriv is not installed (apt-get install util-linux)' : undefined
const SECRET = 'sk-root-ops-secret'

/** Pids of `pid`'s descendants, from /proc. */
function descendants(pid: number): number[] {
  const out: number[] = []
  const walk = (p: number) => {
    for (const t of readdirSync(`/proc/${p}/task`)) {
      let kids = ''
      try {
        kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8')
      } catch {
        continue
      }
      for (const k of kids.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(k)
        walk(k)
      }
    }
  }
  walk(pid)
  return out
}

const uidOf = (pid: number) => Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])

describe.skipIf(skip !== undefined)(`operations of a root agent (ECS) run as the user${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const base = mkdtempSync(join(tmpdir(), 'lab-ops-root-'))
  const shared = join(base, 'shared')
  const dir = join(base, 'agent')
  let child: ChildProcess
  let ch: AgentChannel
  const user = 'oscar'
  const uid = preferredUid(user)
  const home = join(shared, user)

  beforeAll(async () => {
    ensureBundle()
    chmodSync(base, 0o755)
    mkdirSync(shared, { mode: 0o711 })
    mkdirSync(dir, { mode: 0o700 })
    // Another user's workspace, as the agent makes them.
    mkdirSync(join(shared, 'victor'), { mode: 0o700 })
    writeFileSync(join(shared, 'victor', 'secret.txt'), 'victor only', { mode: 0o600 })
    child = spawn(process.execPath, [bundlePath, '--socket', join(dir, 'agent.sock'), '--sandbox-id', 'sbx-root-ops', '--state-dir', join(dir, 'state'), '--workspaces-root', shared], {
      cwd: '/', env: SANDBOX_ENV, stdio: ['ignore', 'ignore', 'inherit'], detached: true,
    })
    const socket = await until('the agent socket', () => {
      try {
        return statSync(join(dir, 'agent.sock')).isSocket()
      } catch {
        return false
      }
    }).then(() => new Promise<Socket>((resolve, reject) => {
      const s = connect(join(dir, 'agent.sock'), () => resolve(s))
      s.once('error', reject)
    }))
    ch = await AgentChannel.open(socket, 10_000)
    await ch.claim({ sessionId: 'ses-root-ops', user, home: '/ignored', env: { CALLER_MARK: 'from-caller' }, secrets: { API_TOKEN: SECRET } }, 10_000)
  }, 60_000)
  afterAll(() => {
    ch?.close()
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      // gone
    }
    rmSync(base, { recursive: true, force: true })
  })

  it("runs commands as the user's uid and gid, no groups, no capabilities, no new privileges, in the user's home", async () => {
    const r = await run(ch, 'id -u; id -g; id -G; grep -E "^(CapEff|CapPrm|NoNewPrivs):" /proc/self/status; pwd; echo "$API_TOKEN $CALLER_MARK"')
    expect(r.stdout.split('\n').map((l) => l.replace(/\s+/g, ' '))).toEqual([
      String(uid), String(uid), String(uid), 'CapPrm: 0000000000000000', 'CapEff: 0000000000000000', 'NoNewPrivs: 1', home, `${SECRET} from-caller`, '',
    ])
  })

  it("no root process holds the caller's variables: the worker is the user's, and got the claim down a pipe", async () => {
    await run(ch, 'true')
    const tree = descendants(child.pid!)
    const worker = tree.find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--ops-worker'))
    expect(worker).toBeDefined()
    expect(uidOf(worker!)).toBe(uid)
    for (const p of [child.pid!, ...tree]) {
      let environ: string, cmdline: string
      try {
        environ = readFileSync(`/proc/${p}/environ`, 'utf8')
        cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8')
      } catch {
        continue // gone meanwhile
      }
      if (uidOf(p) !== 0) continue
      expect(environ, `root process ${p}`).not.toContain(SECRET)
      expect(environ, `root process ${p}`).not.toContain('CALLER_MARK')
      expect(cmdline, `root process ${p}`).not.toContain(SECRET)
    }
    expect(readFileSync(`/proc/${worker}/environ`, 'utf8')).not.toContain(SECRET)
  })

  it("writes files as the user, and reaches nothing the user's uid cannot: root's files, another user's, the uid registry", async () => {
    expect(await ch.ops.writeFile('notes/a.txt', Readable.from([Buffer.from('mine')]), 100)).toEqual({ path: join(home, 'notes/a.txt'), size: 4 })
    expect(statSync(join(home, 'notes/a.txt'))).toMatchObject({ uid, gid: uid })
    expect(statSync(join(home, 'notes'))).toMatchObject({ uid, gid: uid })
    // Planted by root in the user's home: readable by root only.
    writeFileSync(join(home, 'root-file'), 'root only', { mode: 0o600 })
    symlinkSync('/etc/shadow', join(home, 'to-shadow'))
    symlinkSync(join(shared, 'victor', 'secret.txt'), join(home, 'to-victor'))
    for (const path of ['root-file', 'to-shadow', 'to-victor', '../victor/secret.txt', join(shared, '.uids', String(uid)), '../victor']) {
      const err = await ch.ops.readPath(path).then(() => undefined, (e: AgentOpError) => e)
      expect(err, path).toBeInstanceOf(AgentOpError)
      expect(err!.code, path).toBe('permission_denied')
    }
    for (const path of ['../planted.txt', '../victor/planted.txt', '/etc/planted']) {
      await expect(ch.ops.writeFile(path, Readable.from([Buffer.from('x')]), 100), path).rejects.toMatchObject({ code: expect.stringMatching(/^(permission_denied|file_not_found)$/) })
    }
    await expect(ch.ops.removePath('../victor/secret.txt', false)).rejects.toMatchObject({ code: 'permission_denied' })
    expect(readFileSync(join(shared, 'victor', 'secret.txt'), 'utf8')).toBe('victor only')
    expect(readdirSync(shared).sort()).toEqual(['.uids', 'oscar', 'victor'])
    expect(lstatSync(join(home, 'root-file')).uid).toBe(0)
  })

  it('when the worker dies, its open operations fail with internal, and the next one starts a new worker', async () => {
    const h = await ch.ops.exec(spec('sleep 30'))
    const output = collect(h.output!).catch((err: Error) => err)
    const worker = descendants(child.pid!).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('--ops-worker'))!
    try {
      process.kill(worker, 'SIGKILL')
      await expect(h.exit).rejects.toMatchObject({ code: 'internal' })
      expect(await output).toBeInstanceOf(AgentOpError)
      expect((await run(ch, 'echo again; id -u')).stdout).toBe(`again\n${uid}\n`)
    } finally {
      try {
        process.kill(h.pid, 'SIGKILL') // its helper died with the worker: the command was orphaned
      } catch {
        // gone
      }
    }
  })
})
