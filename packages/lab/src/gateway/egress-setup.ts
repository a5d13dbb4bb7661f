import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../config/load.ts'
import { EgressHost } from '../drivers/host/egress-host.ts'
import { DEFAULT_PROXY_IP, egressTag, type EgressOptions } from '../drivers/host/egress-net.ts'
import { originalDstOf } from '../drivers/host/original-dst.ts'
import {
  CA_CERT_FILE, EgressProxy, createSealer, hostsResolver, loadOrCreateCa, loadOrCreateKey, systemResolver, type EgressCa, type Resolver, type Sealer,
} from '../egress/index.ts'
import type { LabMetrics } from '../observability/metrics.ts'
import { SANDBOX_PROXY_PORT, sandboxProxyEnv } from '../spec/network-policy.ts'
import type { PoolSpec } from '../spec/pool-spec.ts'

/** How long the ECS task metadata endpoint may take to say this task's address. */
const TASK_METADATA_TIMEOUT_MS = 2000

export interface GatewayEgress {
  readonly sealer: Sealer
  /** The proxy of local and Docker network pools, and what their drivers need (where it is, the CA their sandboxes trust). */
  readonly host?: { readonly proxy: EgressProxy; readonly driver: EgressOptions }
  /** The proxy of ECS network pools, and the environment their shells get at claim time. */
  readonly ecs?: { readonly proxy: EgressProxy; readonly env: Readonly<Record<string, string>> }
  /** The proxy a pool's sandboxes go out through, if any. */
  proxyFor(pool: PoolSpec): EgressProxy | undefined
  /** Closes the proxies; the host's rules stay (sandboxes outlive the gateway; a restart rewrites them). */
  stop(): Promise<void>
}

/** The drivers' egress option of the instance that owns `dataDir`, if it ever ran a proxy (for `--teardown`). */
export function egressOptionsForTeardown(dataDir: string): EgressOptions | undefined {
  const caFile = join(dataDir, 'egress', CA_CERT_FILE)
  if (!existsSync(caFile)) return undefined
  return { tag: egressTag(dataDir), proxyIp: DEFAULT_PROXY_IP, caCertPem: readFileSync(caFile, 'utf8') }
}

/** Removes the host side (rules, address holder) of the instance that owns `dataDir`: `gateway --teardown`. */
export async function teardownEgress(dataDir: string): Promise<void> {
  await new EgressHost({ tag: egressTag(dataDir) }).down()
}

/**
 * What seals secrets in the store (credentials, webhook secrets): the key in the data dir (made
 * on first use, 0600) or the configured file. A copy of the database alone reveals none of them.
 */
export async function loadSealer(config: GatewayConfig): Promise<Sealer> {
  return createSealer(await loadOrCreateKey(config.egress.credentialKeyFile ?? join(config.dataDir, 'egress', 'credential-key')))
}

/** Pools whose sandboxes go out through this gateway's host proxy (their own namespaces, nftables). */
export function usesHostProxy(pool: PoolSpec): boolean {
  return pool.network && (pool.driver === 'local' || pool.driver === 'docker')
}

/** ECS pools with a network: their tasks reach only the proxy in the gateway's task (docs/aws.md). */
export function usesEcsProxy(pool: PoolSpec): boolean {
  return pool.network && pool.driver === 'ecs'
}

/**
 * Starts the egress side of the gateway when a pool needs it. For local and Docker pools: the
 * proxy's address on the host, the CA and sealing key in the data dir, the proxy's listeners,
 * then the nftables rules that send every network sandbox's traffic to them. For ECS pools: a
 * proxy on the gateway task's own address (port 3128, what the security groups open), which
 * never opens a private address (the gateway's network position reaches agents and EFS).
 */
export async function startEgress(config: GatewayConfig, pools: readonly PoolSpec[], metrics: LabMetrics, logger: Logger): Promise<GatewayEgress | undefined> {
  const wantsHost = pools.some(usesHostProxy)
  const wantsEcs = pools.some(usesEcsProxy)
  if (!wantsHost && !wantsEcs) return undefined
  const dir = join(config.dataDir, 'egress')
  const ca = await loadOrCreateCa(dir)
  const sealer = await loadSealer(config)
  const resolver: Resolver = config.egress.hosts ? hostsResolver(config.egress.hosts) : systemResolver()
  const common = (component: string) => ({
    resolver, ca,
    upstreamCaPems: (config.egress.upstreamCaFiles ?? []).map((f) => readFileSync(f, 'utf8')),
    limits: { maxConnections: config.egress.maxConnections, bytesPerSec: config.egress.bytesPerSec },
    logger: logger.child({ component }),
    // the proxy logs each one itself
    onDenied: (e: { pool: string }) => metrics.egressDenied.inc({ pool: e.pool }),
  })
  const started: EgressProxy[] = []
  try {
    let host: GatewayEgress['host']
    if (wantsHost) {
      const tag = egressTag(config.dataDir)
      const holder = new EgressHost({ tag })
      await holder.ensureAddress()
      const proxy = new EgressProxy({ host: holder.proxyIp, originalDst: originalDstOf, ...common('egress') })
      started.push(proxy)
      const ports = await proxy.listen()
      await holder.up(ports)
      logger.info({ proxy: holder.proxyIp, ports, tag }, 'egress proxy ready')
      host = { proxy, driver: { proxyIp: holder.proxyIp, caCertPem: ca.caCertPem, tag } }
    }
    let ecs: GatewayEgress['ecs']
    if (wantsEcs) ecs = await startEcsProxy(config, common('egress-ecs'), started, logger)
    return {
      sealer, ...(host ? { host } : {}), ...(ecs ? { ecs } : {}),
      proxyFor: (pool) => (usesHostProxy(pool) ? host?.proxy : usesEcsProxy(pool) ? ecs?.proxy : undefined),
      async stop() {
        for (const p of started) await p.close()
      },
    }
  } catch (err) {
    for (const p of started) await p.close().catch(() => undefined)
    throw err
  }
}

type CommonProxyOptions = Omit<ConstructorParameters<typeof EgressProxy>[0], 'host' | 'ports' | 'originalDst'> & { ca: EgressCa }

async function startEcsProxy(config: GatewayConfig, common: CommonProxyOptions, started: EgressProxy[], logger: Logger): Promise<GatewayEgress['ecs']> {
  const ecs = config.ecs
  const proxyHost = ecs?.proxyHost ?? (await taskAddress(process.env.ECS_CONTAINER_METADATA_URI_V4))
  if (!proxyHost) {
    throw new Error('ecs pools with network: true need the address sandbox tasks reach this gateway at: --proxy-host (INFRA_LAB_ECS_PROXY_HOST), or run in an ECS task (its metadata says it)')
  }
  // ECS has no transparent redirect and no DNS redirect (docs/aws.md): those two listeners take
  // ephemeral ports nothing is routed to (the security groups open only the proxy's port), and
  // answer only bound sources anyway.
  const proxy = new EgressProxy({ host: ecs?.proxyListen ?? '0.0.0.0', ports: { http: ecs?.proxyPort ?? SANDBOX_PROXY_PORT }, exactExceptions: false, ...common })
  started.push(proxy)
  const ports = await proxy.listen()
  const url = `${proxyHost}:${ports.http}`
  const all = sandboxProxyEnv(proxyHost)
  // The port is the proxy's own (3128 unless configured), and ECS sandboxes hold no gateway CA: no CA variables.
  const env = Object.fromEntries(Object.entries(all).filter(([k]) => /proxy$/i.test(k)).map(([k, v]) => [k, /no_proxy/i.test(k) ? v : `http://${url}`]))
  logger.info({ proxyHost, port: ports.http }, 'ecs egress proxy ready')
  return { proxy, env }
}

/** This ECS task's private IPv4, from its metadata endpoint (undefined outside ECS or when it does not answer). */
async function taskAddress(metadataUri: string | undefined): Promise<string | undefined> {
  if (!metadataUri) return undefined
  try {
    const res = await fetch(`${metadataUri}/task`, { signal: AbortSignal.timeout(TASK_METADATA_TIMEOUT_MS) })
    const task = (await res.json()) as { Containers?: { Networks?: { IPv4Addresses?: string[] }[] }[] }
    return task.Containers?.flatMap((c) => c.Networks ?? []).flatMap((n) => n.IPv4Addresses ?? [])[0]
  } catch {
    return undefined
  }
}
