// The gateway's side of network policy on ECS (docs/aws.md, "Network policy on ECS"): a proxy
// on the gateway task's address, sessions bound by their task's private IP, the proxy's address
// handed to the shell with the claim, no credentials (ECS sandboxes do not trust the gateway's
// CA), and no private address ever opened, not even one a policy lists exactly. The sandbox task
// is stood in for by this process's loopback address (a task's IP on ECS); the world is a test
// internet in a namespace the test makes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadGatewayConfig } from '../src/config/load.ts'
import { startEgress, type GatewayEgress } from '../src/gateway/egress-setup.ts'
import { ApiError } from '../src/gateway/errors.ts'
import { SessionNetworks } from '../src/gateway/session-network.ts'
import { LabMetrics } from '../src/observability/metrics.ts'
import type { PoolSpec } from '../src/spec/pool-spec.ts'
import type { SandboxHandle } from '../src/spec/sandbox-handle.ts'
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts'
import { startInternet, type Internet } from './internet.test-util.ts'

const skip = process.getuid?.() !== 0 ? 'needs root (the test internet is a network namespace)' : undefined
const PRIVATE_IP = '10.1.2.3'

describe.skipIf(skip !== undefined)(`egress on ECS pools${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let internet: Internet
  let dataDir: string
  let egress: GatewayEgress
  let pool: PoolSpec
  let networks: SessionNetworks
  let store: SqliteStore
  const metrics = new LabMetrics()

  beforeAll(async () => {
    internet = await startInternet({ extraAddresses: [PRIVATE_IP] })
    dataDir = mkdtempSync(join(tmpdir(), 'ilab-egress-ecs-'))
    const file = join(dataDir, 'config.json')
    writeFileSync(file, JSON.stringify({
      pools: [{ name: 'tasks', driver: 'ecs', network: true, policy: { kind: 'fixed', size: 0 } }],
      ecs: { cluster: 'lab', taskDefinition: 'lab-sandbox:1', subnets: ['subnet-a'], proxyHost: '127.0.0.1', proxyPort: 0, proxyListen: '127.0.0.1' },
      egress: { hosts: internet.hostsMap },
    }))
    const loaded = loadGatewayConfig({ config: file, dataDir }, {}, dataDir)
    if (!loaded.ok) throw new Error(loaded.errors.join('; '))
    pool = loaded.config.pools[0]!
    egress = (await startEgress(loaded.config, loaded.config.pools, metrics, pino({ level: 'silent' })))!
    store = new SqliteStore(':memory:')
    networks = new SessionNetworks({
      store, logger: pino({ level: 'silent' }), sealer: egress.sealer,
      proxyFor: (p) => egress.proxyFor(p), injects: () => false, claimEnv: () => egress.ecs?.env ?? {}, poolSpec: () => pool,
    })
  }, 60_000)
  afterAll(async () => {
    await egress?.stop()
    await store?.close()
    if (dataDir) rmSync(dataDir, { recursive: true, force: true })
    await internet?.close()
  })

  /** A plain HTTP request through the proxy, as a shell with HTTP_PROXY would send it. */
  const viaProxy = (url: string): Promise<{ status: number; body: string }> => new Promise((resolve, reject) => {
    const proxy = new URL(egress.ecs!.env.HTTP_PROXY!)
    const req = request({ host: proxy.hostname, port: Number(proxy.port), path: url, headers: { host: new URL(url).host } }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })

  it('starts a proxy on the task address only, and gives shells its address with the claim, without CA variables', () => {
    expect(egress.host).toBeUndefined() // no local or Docker pool: no namespaces, no nftables
    const env = networks.claimEnv(pool, { policy: { egress: 'open' }, credentials: [] })
    expect(env.HTTP_PROXY).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(env.https_proxy).toBe(env.HTTP_PROXY)
    expect(env.NO_PROXY).toContain('localhost')
    expect(Object.keys(env).some((k) => /CA|CERT/.test(k))).toBe(false)
    expect(networks.claimEnv({ ...pool, network: false }, { policy: null, credentials: [] })).toEqual({})
  })

  it('refuses credentials on ECS with 400 network_unavailable', () => {
    const ask = { network: { egress: 'open' as const }, credentials: [{ host: 'api.example.test', header: 'Authorization', value: 'Bearer x' }] }
    expect(() => networks.prepare(pool, ask)).toThrowError(ApiError)
    try {
      networks.prepare(pool, ask)
    } catch (err) {
      expect((err as ApiError).code).toBe('network_unavailable')
    }
  })

  it("binds a session by its task's address: allowed, denied, and a private address listed exactly stays denied", async () => {
    const handle: SandboxHandle = { id: 'sb-task', pool: 'tasks', driver: 'ecs', createdAt: 0, address: { kind: 'tcp', host: '127.0.0.1', port: 7100 }, meta: {} }
    const prepared = networks.prepare(pool, { network: { egress: 'allow', allow: ['example.test', PRIVATE_IP] } })
    networks.bind('ses-ecs1', 'tasks', handle, prepared)
    try {
      const ok = await viaProxy('http://example.test/ecs')
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.body)).toMatchObject({ host: 'example.test', path: '/ecs' })
      expect((await viaProxy('http://a.npm.test/')).status).toBe(403)
      // on a laptop an exact private address opens; on ECS the gateway's network position would reach agents and EFS
      const priv = await viaProxy(`http://${PRIVATE_IP}/`)
      expect(priv.status).toBe(403)
      expect(priv.body).toContain('always_denied')
      expect(egress.ecs!.proxy.denied('ses-ecs1').map((d) => d.reason)).toEqual(['not_allowed', 'always_denied'])
    } finally {
      networks.unbind('ses-ecs1')
    }
    // unbound: the task's address speaks for no session any more; the proxy hangs up on it
    await expect(viaProxy('http://example.test/')).rejects.toThrow(/socket hang up|ECONNRESET/)
  })
})
