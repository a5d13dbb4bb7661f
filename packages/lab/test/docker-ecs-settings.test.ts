import { execFile } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AgentChannel } from '../src/drivers/channel.ts'
import { containerBody } from '../src/drivers/docker/container-spec.ts'
import { DockerEngine } from '../src/drivers/docker/engine.ts'
import { DEFAULT_SANDBOX_IMAGE } from '../src/drivers/docker/options.ts'
import { BUILD_IMAGE_SCRIPT, dockerSkipReason, ensureLocalImage } from '../src/drivers/docker/test-support.ts'
import { openAgentChannel } from '../src/drivers/host/agent-socket.ts'
import { loadMountAddon } from '../src/drivers/host/mounts.ts'
import { cgroupMentions } from '../src/drivers/host/peer.ts'

const run = promisify(execFile)
const skip = await dockerSkipReason()
const SHARED_IN_TASK = '/mnt/workspaces'

/**
 * The ECS task's container settings (infra/src/sandbox-task.ts) on the local Docker engine: the
 * agent as uid 0 with only CHOWN, SETUID and SETGID, a read-only root, no network, and one
 * shared workspaces root for every user (the EFS access point's stand-in). The agent gives each
 * user a uid and a 0700 home at claim time and drops the shell to it; these are the escapes that
 * must fail from one user's shell.
 */
describe.skipIf(skip !== undefined)(`ECS task settings in a container: one shared root, per-user uids${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const engine = new DockerEngine()
  const base = mkdtempSync(join(tmpdir(), 'ilab-ecs-settings-'))
  const shared = join(base, 'shared')
  const containers: string[] = []
  const channels: AgentChannel[] = []

  beforeAll(async () => {
    await ensureLocalImage()
    // An image built before setpriv was part of it cannot run this mode: build it again.
    const probe = await run('docker', ['run', '--rm', '--network', 'none', '--entrypoint', '/usr/bin/setpriv', DEFAULT_SANDBOX_IMAGE, '--version']).catch(() => undefined)
    if (!probe) await run(process.execPath, [BUILD_IMAGE_SCRIPT, '--tag', DEFAULT_SANDBOX_IMAGE])
    mkdirSync(shared, { mode: 0o711 })
    chmodSync(shared, 0o711)
  }, 120_000)
  afterAll(async () => {
    for (const ch of channels) ch.close()
    for (const id of containers) await engine.call('DELETE', `/containers/${id}?force=1`)
    rmSync(base, { recursive: true, force: true })
  })

  async function claimedShell(user: string) {
    const id = `ecs-${user}-${process.pid}`
    const sockDir = join(base, `sock-${user}`)
    mkdirSync(sockDir, { mode: 0o700 })
    const body = containerBody({
      id, pool: 'ecs-settings', createdAt: Date.now(), image: DEFAULT_SANDBOX_IMAGE, uid: 0, limits: { pids: 128, memoryMb: 256, cpus: 1 },
      sockDir, slotDir: base, runtimeDir: base, nodeFlags: [], maxOpenFiles: 1024,
    }) as { User: string; Cmd: string[]; HostConfig: Record<string, unknown> }
    body.User = '0:0'
    body.Cmd = [...body.Cmd, '--workspaces-root', SHARED_IN_TASK]
    body.HostConfig.CapDrop = ['ALL']
    body.HostConfig.CapAdd = ['CHOWN', 'SETUID', 'SETGID']
    body.HostConfig.Binds = [`${sockDir}:/run/agent:rw`, `${shared}:${SHARED_IN_TASK}:rw`]
    const created = await engine.json<{ Id: string }>('POST', `/containers/create?name=infra-lab-test-${id}`, body)
    containers.push(created!.Id)
    await engine.json('POST', `/containers/${created!.Id}/start`)
    const containerId = created!.Id
    const channel = await openAgentChannel({
      addon: loadMountAddon(), sockDir, sandboxId: id,
      checkPeer: async (peer) => ((await cgroupMentions(peer.pid, containerId)) ? undefined : 'not in the container'),
    }, Date.now() + 20_000)
    channels.push(channel)
    let output = ''
    channel.on('output', (d) => (output += d.toString('utf8')))
    await channel.claim({ sessionId: `ses-${user}`, user, home: '/ignored', env: {}, secrets: { TOKEN: `t-${user}` } }, 10_000)
    const sh = async (cmd: string): Promise<string> => {
      const from = output.length
      const marker = `m${Math.random().toString(36).slice(2, 8)}`
      channel.sendInput(Buffer.from(`${cmd}; echo ${marker}"-"done\r`))
      const end = Date.now() + 10_000
      for (;;) {
        const m = new RegExp(`\\n([\\s\\S]*?)${marker}-done\\r?\\n`).exec(output.slice(from))
        if (m) return m[1]!
        if (Date.now() > end) throw new Error(`no answer to ${cmd}:\n${output.slice(from)}`)
        await new Promise((r) => setTimeout(r, 20))
      }
    }
    return { sh }
  }

  it("each user's shell has its own uid and no capabilities, and cannot reach the other user's files", async () => {
    const alice = await claimedShell('alice')
    const bob = await claimedShell('bob')
    const aliceUid = statSync(join(shared, 'alice')).uid
    expect(aliceUid).not.toBe(0)
    expect(statSync(join(shared, 'bob')).uid).not.toBe(aliceUid)
    expect(statSync(join(shared, 'alice')).mode & 0o777).toBe(0o700)

    const who = await alice.sh('echo "uid=$(id -u) home=$HOME token=$TOKEN"; grep -E "^(CapEff|CapPrm|CapBnd|NoNewPrivs)" /proc/self/status')
    expect(who).toContain(`uid=${aliceUid} home=${SHARED_IN_TASK}/alice token=t-alice`)
    expect(who).toMatch(/CapEff:\s+0000000000000000/)
    expect(who).toMatch(/CapPrm:\s+0000000000000000/)
    expect(who).toMatch(/NoNewPrivs:\s+1/)

    await alice.sh('echo alice-secret-7f3 > ~/notes.txt; ln -s ~/notes.txt /tmp/link')
    const tries = [
      `cat ${SHARED_IN_TASK}/alice/notes.txt`,
      `ls ${SHARED_IN_TASK}/alice`,
      `cat ~/../alice/notes.txt`,
      `ls ${SHARED_IN_TASK}/.uids`,
      `touch ${SHARED_IN_TASK}/intruder`,
      `ln -s ${SHARED_IN_TASK}/alice/notes.txt ~/l && cat ~/l`,
      'cat /proc/1/root/mnt/workspaces/alice/notes.txt',
      `find ${SHARED_IN_TASK} -name notes.txt -exec cat {} +`,
    ]
    const out = await bob.sh(tries.map((c) => `${c} 2>&1`).join('; '))
    expect(out).not.toContain('alice-secret-7f3')
    expect(out.match(/Permission denied/g)?.length ?? 0).toBe(tries.length)
    expect(await bob.sh('echo "caps $(grep CapEff /proc/self/status)"; id -u')).not.toMatch(/^0\r?$/m)
  }, 60_000)
})
