import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FrameKind, PROTOCOL_VERSION, encodeControl, encodeFrame } from '@infra-lab/protocol'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LabClient } from '../src/client/client.ts'
import { loadGatewayConfig } from '../src/config/load.ts'
import { dockerSkipReason, dockerTestEnv } from '../src/drivers/docker/test-support.ts'
import { runtimeLayout } from '../src/drivers/host/layout.ts'
import { localDriverSkipReason, localTestEnv } from '../src/drivers/local/test-support.ts'
import type { SandboxDriver } from '../src/drivers/types.ts'
import { startGateway, type StartedGateway } from '../src/gateway/gateway.ts'
import { waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { Term } from './gateway-process.test-util.ts'

const KEY = 'attack-key-0123456789abcdef'

interface DriverEnv {
  readonly runtimeDir: string
  makeDriver(): Promise<SandboxDriver>
  cleanup(): Promise<void>
}

/**
 * Sandboxes that rewrite their own agent socket dir, then a gateway restart: the gateway must not
 * follow a symlink there to another user's agent, must survive a listener that speaks garbage,
 * and must destroy exactly the sandboxes that did it.
 */
function agentSocketAttacks(name: string, skip: string | undefined, makeEnv: () => Promise<DriverEnv>): void {
  describe.skipIf(skip !== undefined)(`${name}: a sandbox that replaces its agent socket${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let env: DriverEnv
    let dataDir: string
    let gw: StartedGateway | undefined
    let driver: SandboxDriver | undefined

    const start = async (): Promise<StartedGateway> => {
      driver = await env.makeDriver()
      const loaded = loadGatewayConfig({ config: join(dataDir, 'config.json'), dataDir, port: 0 }, { INFRA_LAB_API_KEY: KEY }, dataDir)
      if (!loaded.ok) throw new Error(loaded.errors.join('; '))
      const d = driver
      return startGateway({ config: loaded.config, logger: pino({ level: process.env.LOG_LEVEL ?? 'silent' }), makeDriver: async () => d, sweepIntervalMs: 100 })
    }

    beforeAll(async () => {
      env = await makeEnv()
      dataDir = mkdtempSync(join(tmpdir(), `infra-lab-attack-${name}-`))
      writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ driver: name, pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 8 }] }))
      gw = await start()
    }, 60_000)
    afterAll(async () => {
      await gw?.stop()
      await env?.cleanup()
      rmSync(dataDir, { recursive: true, force: true })
    }, 60_000)

    async function shell(client: LabClient, user: string) {
      const s = await client.createSession({ user })
      const t = await Term.open(client, s.attach)
      const sandboxId = (await gw!.store.getSession(s.id))!.sandboxId!
      const run = async (cmd: string, done: string) => {
        t.type(`${cmd}; echo ${done}-"done"\n`)
        await t.waitFor((x) => x.output.includes(`${done}-done\r\n`), `${user}: ${cmd}`, 20_000)
      }
      return { session: s, term: t, sandboxId, run }
    }

    it('cannot redirect the gateway to another user, nor crash it, and only the attackers are destroyed', async () => {
      const client = new LabClient(gw!.url, KEY)
      const victim = await shell(client, 'victim')
      await victim.run('echo before > mine.txt', 'v1')
      const layout = runtimeLayout(env.runtimeDir)

      // 0. Locally the agent's log is a root-owned host file: the user cannot reopen it through /proc
      // to fill the disk. (On Docker it is a pipe to the engine's json-file log, rotated at 1 MiB.)
      if (name === 'local') await victim.run('for p in /proc/[0-9]*; do if grep -qa agent.mjs $p/cmdline 2>/dev/null; then echo found-"agent"; echo x >> $p/fd/1 && echo wrote-log; echo x >> $p/fd/2 && echo wrote-log; fi; done 2>/dev/null', 'v0')
      if (name === 'local') expect(victim.term.output).toContain('found-agent\r\n')
      expect(victim.term.output).not.toContain('wrote-log\r\n')

      // 1. A symlink to the victim's socket (a host path: the gateway would resolve it as root).
      const mallory = await shell(client, 'mallory')
      await mallory.run(`rm -f /run/agent/agent.sock && ln -s ${layout.socketPath(victim.sandboxId)} /run/agent/agent.sock`, 'm1')

      // 2. Its own listener in place of the agent: a valid hello for itself, then a snapshot frame
      // shorter than its header (this crashed the gateway on every restart).
      const trudy = await shell(client, 'trudy')
      const hello = encodeControl({
        type: 'hello', protocol: PROTOCOL_VERSION, sandboxId: trudy.sandboxId, agentVersion: 'evil', pid: 1, state: 'claimed',
        sessionId: trudy.session.id, uptimeMs: 1,
      })
      const attack = Buffer.concat([hello, encodeFrame(FrameKind.SNAPSHOT, Buffer.from([7]))]).toString('base64')
      const script = `const n=require("net");require("fs").rmSync("/run/agent/agent.sock",{force:true});` +
        `n.createServer(s=>{s.on("error",()=>{});s.write(Buffer.from("${attack}","base64"))}).listen("/run/agent/agent.sock",()=>console.log("evil-"+"listening"))`
      trudy.term.type(`node -e '${script}' </dev/null & disown\n`)
      await trudy.term.waitFor((x) => x.output.includes('evil-listening'), 'the hostile listener', 20_000)

      for (const t of [victim.term, mallory.term, trudy.term]) t.close()
      await gw!.stop()
      gw = await start()
      const client2 = new LabClient(gw.url, KEY)

      // The victim's shell is resumed and still its own.
      const reattach = await client2.attach(victim.session.id)
      const again = await Term.open(client2, reattach)
      again.type('cat mine.txt; echo v2-"done"\n')
      await again.waitFor((x) => /before\r\n[\s\S]*v2-done\r\n/.test(x.output), 'the victim shell after the restart', 20_000)
      again.close()

      for (const a of [mallory, trudy]) {
        await waitFor(async () => (await client2.getSession(a.session.id)).state === 'ended', 20_000, `${a.session.id} to end`)
        expect((await client2.getSession(a.session.id)).endedReason).toBe('sandbox_lost')
      }
      // Ended first, destroyed right after: wait for the destroy, then the victim's must still be there.
      const ids = async () => (await driver!.list()).map((h) => h.id)
      await waitFor(async () => !(await ids()).some((id) => id === mallory.sandboxId || id === trudy.sandboxId), 20_000, 'the attackers\' sandboxes to go')
      expect(await ids()).toContain(victim.sandboxId)
      expect((await client2.getSession(victim.session.id)).state).toBe('running')
      const metrics = (await gw.app.inject('/metrics')).body
      expect(Number(new RegExp(`lab_sandbox_failures_total\\{driver="${name}",reason="protocol_error"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? 0)).toBe(2)
      expect((await gw.app.inject('/healthz')).statusCode).toBe(200)
    }, 120_000)
  })
}

const localSkip = localDriverSkipReason()
agentSocketAttacks('local', localSkip, async () => {
  const env = await localTestEnv('attacks')
  return { runtimeDir: env.options.runtimeDir!, makeDriver: env.makeDriver, cleanup: env.cleanup }
})

const dockerSkip = await dockerSkipReason()
agentSocketAttacks('docker', dockerSkip, async () => {
  const env = await dockerTestEnv('attacks')
  return { runtimeDir: env.options.runtimeDir!, makeDriver: () => env.makeDriver(), cleanup: env.cleanup }
})
