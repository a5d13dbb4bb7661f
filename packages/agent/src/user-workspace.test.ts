// Per-user uids with 0700 directories on a shared root (the ECS model, docs/security.md): unit
// tests of the allocation, and the built agent as root dropping two users' shells to their uids.
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SANDBOX_ENV, TestClient, bundlePath, ensureBundle } from './agent-harness.test-util.ts'
import { USER_UID_BASE, UID_REGISTRY_DIR, allocateUid, dropToUserLine, preferredUid, prepareUserWorkspace } from './user-workspace.ts'

const isRoot = process.getuid?.() === 0
const hasSetpriv = spawnSync('setpriv', ['--version']).status === 0
const notRoot = isRoot ? '' : ' (skipped: needs root: run the tests as root)'
const skip = !isRoot ? 'needs root: run the tests as root' : !hasSetpriv ? 'setpriv is not installed (apt-get install util-linux)' : undefined
const root = mkdtempSync(join(tmpdir(), 'agent-workspaces-'))
chmodSync(root, 0o711)
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('per-user uids and directories', () => {
  it('gives a user a stable uid and probes past one another user holds', () => {
    const r = mkdtempSync(join(root, 'alloc-'))
    expect(preferredUid('alice')).toBeGreaterThanOrEqual(USER_UID_BASE)
    const alice = allocateUid(r, 'alice')
    expect(alice).toBe(preferredUid('alice'))
    expect(allocateUid(r, 'alice')).toBe(alice)
    // someone else already holds bob's preferred uid
    writeFileSync(join(r, UID_REGISTRY_DIR, String(preferredUid('bob'))), 'mallory')
    const bob = allocateUid(r, 'bob')
    expect(bob).toBe(preferredUid('bob') + 1)
    expect(readFileSync(join(r, UID_REGISTRY_DIR, String(bob)), 'utf8')).toBe('bob')
    expect(statSync(join(r, UID_REGISTRY_DIR)).mode & 0o777).toBe(0o700)
  })

  it('refuses names that could reach outside or the registry, and a symlink in place of a home', () => {
    const r = mkdtempSync(join(root, 'names-'))
    for (const bad of ['..', '.', '.uids', 'a/b', '']) expect(() => prepareUserWorkspace(r, bad)).toThrow(/invalid user name/)
    symlinkSync('/etc', join(r, 'eve'))
    expect(() => prepareUserWorkspace(r, 'eve')).toThrow(/not a directory/)
  })

  it.skipIf(!isRoot)(`makes <root>/<user> owned by the user uid with mode 0700, and fixes a wrong owner or mode${notRoot}`, () => {
    const r = mkdtempSync(join(root, 'dirs-'))
    const { home, uid } = prepareUserWorkspace(r, 'carol')
    expect(home).toBe(join(r, 'carol'))
    expect(statSync(home)).toMatchObject({ uid, gid: uid })
    expect(statSync(home).mode & 0o7777).toBe(0o700)
    chmodSync(home, 0o755)
    prepareUserWorkspace(r, 'carol')
    expect(statSync(home).mode & 0o7777).toBe(0o700)
  })

  it('the drop line leaves no groups, capabilities or new privileges, and runs nothing found through PATH', () => {
    expect(dropToUserLine(200_123, '/bin/bash')).toBe(
      "exec /usr/bin/setpriv --reuid=200123 --regid=200123 --clear-groups --inh-caps=-all --no-new-privs -- '/bin/bash' --noprofile --rcfile /dev/fd/4 -i || exit 126",
    )
    expect(() => dropToUserLine(200_123, 'bash')).toThrow(/absolute path/)
  })

  it('a drop that cannot exec ends the root shell instead of leaving it to the user', () => {
    // an interactive bash goes on after a failed exec; execfail gives a script the same behaviour
    const line = dropToUserLine(200_123, '/bin/bash').replace('/usr/bin/setpriv', '/nonexistent/setpriv')
    const run = spawnSync('/bin/bash', ['--norc', '--noprofile', '-c', `shopt -s execfail\n${line}\necho still-root`], { encoding: 'utf8' })
    expect(run.status).toBe(126)
    expect(run.stdout).not.toContain('still-root')
  })
})

describe.skipIf(skip !== undefined)(`agent --workspaces-root: two users on one shared root${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const shared = join(root, 'shared')
  const agents: { stop(): void }[] = []
  beforeAll(() => {
    ensureBundle()
    mkdirSync(shared, { mode: 0o711 })
    chmodSync(shared, 0o711)
  }, 60_000)
  afterAll(() => agents.forEach((a) => a.stop()))

  async function claimedShell(sandboxId: string, user: string): Promise<TestClient> {
    const dir = mkdtempSync(join(tmpdir(), 'agent-ws-it-'))
    const child = spawn(process.execPath, [bundlePath, '--socket', join(dir, 'agent.sock'), '--sandbox-id', sandboxId, '--state-dir', join(dir, 'state'), '--workspaces-root', shared], {
      cwd: '/', env: SANDBOX_ENV, stdio: ['ignore', 'ignore', 'ignore'], detached: true,
    })
    agents.push({ stop: () => { try { process.kill(-child.pid!, 'SIGKILL') } catch { /* gone */ } rmSync(dir, { recursive: true, force: true }) } })
    const client = await TestClient.connect(join(dir, 'agent.sock'))
    await client.message('hello')
    client.send({ type: 'claim', sessionId: `ses-${user}`, user, home: '/ignored', env: {}, secrets: { TOKEN: `t-${user}` } })
    await client.message('ready')
    await client.outputMatching(new RegExp(`${user}@sandbox:.*\\$ $`))
    return client
  }

  async function run(client: TestClient, cmd: string, marker: string): Promise<string> {
    const from = client.output.length
    client.input(`${cmd}; echo ${marker}-done\r`)
    const m = await client.outputMatching(new RegExp(`\\n([\\s\\S]*?)${marker}-done\\r?\\n`), from)
    return m[1]!
  }

  it("each shell runs as its user's uid without capabilities, in a 0700 home, and cannot open the other's", async () => {
    const alice = await claimedShell('sbx-alice', 'alice')
    const bob = await claimedShell('sbx-bob', 'bob')
    const aliceUid = statSync(join(shared, 'alice')).uid
    const bobUid = statSync(join(shared, 'bob')).uid
    expect(aliceUid).toBeGreaterThanOrEqual(USER_UID_BASE)
    expect(bobUid).not.toBe(aliceUid)

    const who = await run(alice, 'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) home=$HOME pwd=$PWD token=$TOKEN"; grep -E "^(CapEff|CapPrm|NoNewPrivs)" /proc/self/status', 'a1')
    expect(who).toContain(`uid=${aliceUid} gid=${aliceUid} groups=${aliceUid} home=${join(shared, 'alice')} pwd=${join(shared, 'alice')} token=t-alice`)
    expect(who).toMatch(/CapPrm:\s+0000000000000000/)
    expect(who).toMatch(/CapEff:\s+0000000000000000/)
    expect(who).toMatch(/NoNewPrivs:\s+1/)

    await run(alice, 'echo secret > ~/notes.txt', 'a2')
    const peek = await run(bob, `ls ${join(shared, 'alice')} 2>&1; cat ${join(shared, 'alice', 'notes.txt')} 2>&1; ls ${join(shared, UID_REGISTRY_DIR)} 2>&1; touch ${join(shared, 'intruder')} 2>&1`, 'b1')
    expect(peek.match(/Permission denied/g)?.length).toBe(4)
    expect(peek).not.toContain('secret')
    expect(statSync(join(shared, 'alice', 'notes.txt')).uid).toBe(aliceUid)
  }, 30_000)
})
