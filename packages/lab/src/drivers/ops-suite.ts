import { createHash, randomBytes } from 'node:crypto'
import { chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ExecSpec, OutputChunk } from './agent-ops.ts'
import type { AgentChannel } from './channel.ts'
import { waitForOutput } from './contract.ts'
import type { EscapeEnv } from './escape-suite.ts'
import type { SandboxHandle } from './types.ts'

/**
 * Commands and files through a real driver's sandboxes (channel.ops): they run inside the
 * sandbox, as the shell's uid, in the shell's namespaces and seccomp filter, with the session's
 * env; a user reaches through them nothing the shell could not. Two sandboxes are claimed by
 * alice and bob; alice tries. Call it from the driver's test file, like runEscapeSuite.
 */
export function runOpsSuite(name: string, makeEnv: () => Promise<EscapeEnv>): void {
  const tag = randomBytes(3).toString('hex')
  const BOB_SECRET = `bob-secret-${tag}`

  describe(`commands and files in the sandbox: ${name}`, () => {
    let env: EscapeEnv
    const sandboxes: SandboxHandle[] = []
    let alice: AgentChannel
    let bob: AgentChannel
    let aliceHome: string
    let bobHost: string

    const spec = (cmd: ExecSpec['cmd'], over: Partial<ExecSpec> = {}): ExecSpec => ({ cmd, env: {}, timeoutMs: 30_000, background: false, tty: false, ...over })
    async function run(c: AgentChannel, cmd: ExecSpec['cmd'], over: Partial<ExecSpec> = {}) {
      const h = await c.ops.exec(spec(cmd, over))
      const chunks: OutputChunk[] = []
      for await (const chunk of h.output!) chunks.push(chunk as OutputChunk)
      const text = (s: string) => Buffer.concat(chunks.filter((x) => x.stream === s).map((x) => x.data)).toString('utf8')
      return { ...(await h.exit), stdout: text('stdout'), stderr: text('stderr') }
    }
    async function shell(c: AgentChannel, cmd: string): Promise<string> {
      const done = waitForOutput(c, /__OPS(\d+)__/, 15_000)
      c.sendInput(Buffer.from(`${cmd}; echo __OPS$((40+2))__\n`))
      return done
    }

    beforeAll(async () => {
      env = await makeEnv()
      const { driver, workspaceUid: uid } = env
      for (const user of ['alice', 'bob']) {
        const dir = join(env.workspacesDir, user)
        await mkdir(dir, { recursive: true, mode: 0o700 })
        await chown(dir, uid, uid)
      }
      bobHost = join(env.workspacesDir, 'bob')
      await writeFile(join(bobHost, 'secret.txt'), `${BOB_SECRET}\n`, { mode: 0o600 })
      await chown(join(bobHost, 'secret.txt'), uid, uid)
      const limits = { pids: 128, memoryMb: 512, cpus: 1 }
      const [ha, hb] = await Promise.all(['a', 'b'].map((x) => driver.create({ id: `ops-${x}-${tag}`, pool: 'ops', limits, network: false, helloTimeoutMs: 15_000 })))
      sandboxes.push(ha!, hb!)
      const claim = async (h: SandboxHandle, user: string) => {
        const b = await driver.bindWorkspace(h, user)
        const c = await driver.connect(h)
        await c.claim({ sessionId: `s-${user}-${tag}`, user, home: b.home, env: { GREETING: `hi-${user}` }, secrets: { TOKEN: `tok-${user}` } }, 10_000)
        return { c, home: b.home }
      }
      const a = await claim(ha!, 'alice')
      alice = a.c
      aliceHome = a.home
      bob = (await claim(hb!, 'bob')).c
    })
    afterAll(async () => {
      alice?.close()
      bob?.close()
      for (const h of sandboxes) await env.driver.destroy(h.id)
      await env?.cleanup()
    })

    it("runs as the shell's uid, in its namespaces, under its seccomp filter, with no capabilities, and the session's env", async () => {
      const shellPid = /SHELLPID=(\d+)/.exec(await shell(alice, 'echo SHELLPID=$$'))![1]
      const r = await run(alice, `id -u; for n in mnt pid net user uts ipc; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/${shellPid}/ns/$n)" ] && echo same-$n; done; grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; echo "$GREETING $TOKEN $HOME $USER"; pwd`)
      const lines = r.stdout.trim().split('\n').map((l) => l.replace(/\s+/g, ' '))
      expect(lines).toEqual([
        String(env.shellUid), 'same-mnt', 'same-pid', 'same-net', 'same-user', 'same-uts', 'same-ipc',
        'CapEff: 0000000000000000', 'NoNewPrivs: 1', 'Seccomp: 2', `hi-alice tok-alice ${aliceHome} alice`, aliceHome,
      ])
    })

    it('a timeout ends what the command started inside the sandbox, setsid and double fork included', async () => {
      const r = await run(alice, "setsid sh -c 'sleep 300 & echo $! > ~/gc.pid' & sleep 300", { timeoutMs: 500 })
      expect(r).toMatchObject({ timedOut: true })
      const check = await run(alice, 'kill -0 $(cat ~/gc.pid) 2>/dev/null && echo alive || echo gone')
      expect(check.stdout).toBe('gone\n')
    })

    it('a background process is followed and signalled', async () => {
      const h = await alice.ops.exec(spec('echo up; sleep 300', { background: true }))
      const follow = await alice.ops.processOutput(h.processId, true)
      const first = await new Promise<OutputChunk>((r) => follow.once('data', r))
      expect(first.data.toString()).toBe('up\n')
      await alice.ops.signalProcess(h.processId, 'SIGKILL')
      expect(await h.exit).toMatchObject({ signal: 'SIGKILL' })
    })

    it("files written through the API land in the user's workspace as the shell's uid, and round-trip 10 MB", async () => {
      const data = randomBytes(10_000_000)
      expect(await alice.ops.writeFile('up/load.bin', Readable.from([data]), 1 << 30)).toEqual({ path: join(aliceHome, 'up/load.bin'), size: data.length })
      const host = join(env.workspacesDir, 'alice', 'up/load.bin')
      expect(await stat(host)).toMatchObject({ size: data.length, uid: env.workspaceUid })
      expect(createHash('sha256').update(await readFile(host)).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'))
      const r = await alice.ops.readPath(join(aliceHome, 'up/load.bin'))
      if (r.kind !== 'file') throw new Error('not a file')
      expect(createHash('sha256').update(Buffer.concat(await r.data.toArray())).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'))
      expect((await run(alice, 'sha256sum ~/up/load.bin')).stdout.split(' ')[0]).toBe(createHash('sha256').update(data).digest('hex'))
    })

    it("alice reaches bob's workspace through no route of the file API: paths, .., symlinks, /proc", async () => {
      await run(alice, `ln -sf ${bobHost}/secret.txt ~/l1; ln -sf /proc/1/root${bobHost} ~/l2; ln -sf /slot/../../../${bobHost} ~/l3`)
      const paths = [
        `${bobHost}/secret.txt`, `/slot/home/../../${bobHost}/secret.txt`, '/home/user/../bob/secret.txt', '../bob/secret.txt',
        'l1', 'l2/secret.txt', 'l3/secret.txt', `/proc/1/root${bobHost}/secret.txt`, `/proc/1/cwd/../bob/secret.txt`, bobHost,
      ]
      for (const p of paths) {
        const got = await alice.ops.readPath(p).then(async (r) => (r.kind === 'file' ? Buffer.concat(await r.data.toArray()).toString() : JSON.stringify(r.entries)), (err: Error) => `error: ${err.message}`)
        expect(got, p).not.toContain(BOB_SECRET)
        expect(got, p).toMatch(/^error: /) // not even a listing of bob's names
      }
      for (const p of [`${bobHost}/planted.txt`, '../bob/planted.txt', 'l2/planted.txt']) {
        await alice.ops.writeFile(p, Readable.from([Buffer.from('x')]), 10).catch(() => undefined)
        await alice.ops.removePath(p.replace('planted.txt', 'secret.txt'), false).catch(() => undefined)
      }
      expect(await readFile(join(bobHost, 'secret.txt'), 'utf8')).toBe(`${BOB_SECRET}\n`)
      await expect(stat(join(bobHost, 'planted.txt'))).rejects.toThrow(/ENOENT/)
      expect((await run(bob, 'cat ~/secret.txt')).stdout).toBe(`${BOB_SECRET}\n`)
    })

    it('files outside the workspace follow the sandbox: /tmp writable, the root read-only, /dev/shm full is insufficient_storage', async () => {
      await alice.ops.writeFile('/tmp/x.txt', Readable.from([Buffer.from('tmp')]), 10)
      expect((await run(alice, 'cat /tmp/x.txt')).stdout).toBe('tmp')
      await expect(alice.ops.writeFile('/etc/evil', Readable.from([Buffer.from('x')]), 10)).rejects.toMatchObject({ code: expect.stringMatching(/^(permission_denied)$/) })
      await expect(alice.ops.writeFile('/dev/shm/fill', Readable.from(Array.from({ length: 70 }, () => Buffer.alloc(1_000_000))), 1 << 30))
        .rejects.toMatchObject({ code: 'insufficient_storage' })
      expect((await run(alice, 'ls -A /dev/shm')).stdout).toBe('')
    }, 60_000)
  })
}
