import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { GatewayConfig } from '../config/load.ts'
import { EgressHost } from '../drivers/host/egress-host.ts'
import { DEFAULT_PROXY_IP, egressTag, type EgressOptions } from '../drivers/host/egress-net.ts'
import { originalDstOf } from '../drivers/host/original-dst.ts'
import { CA_CERT_FILE, EgressProxy, createSealer, hostsResolver, loadOrCreateCa, loadOrCreateKey, systemResolver, type Sealer } from '../egress/index.ts'
import type { LabMetrics } from '../observability/metrics.ts'
import type { PoolSpec } from '../spec/pool-spec.ts'

export interface GatewayEgress {
  readonly proxy: EgressProxy
  readonly sealer: Sealer
  /** What the drivers of network pools need: where the proxy is, and the CA their sandboxes trust. */
  readonly driver: EgressOptions
  /** Closes the proxy; the host's rules stay (sandboxes outlive the gateway; a restart rewrites them). */
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

/** Pools whose sandboxes go out through this gateway's proxy. */
export function usesEgressProxy(pool: PoolSpec): boolean {
  return pool.network && (pool.driver === 'local' || pool.driver === 'docker')
}

/**
 * Starts the egress side of the gateway when a pool needs it: the proxy's address on the host,
 * the CA and sealing key in the data dir, the proxy's listeners, then the nftables rules that
 * send every network sandbox's traffic to them.
 */
export async function startEgress(config: GatewayConfig, pools: readonly PoolSpec[], metrics: LabMetrics, logger: Logger): Promise<GatewayEgress | undefined> {
  if (!pools.some(usesEgressProxy)) return undefined
  const dir = join(config.dataDir, 'egress')
  const tag = egressTag(config.dataDir)
  const host = new EgressHost({ tag })
  await host.ensureAddress()
  const ca = await loadOrCreateCa(dir)
  const sealer = createSealer(await loadOrCreateKey(config.egress.credentialKeyFile ?? join(dir, 'credential-key')))
  const proxy = new EgressProxy({
    host: host.proxyIp,
    resolver: config.egress.hosts ? hostsResolver(config.egress.hosts) : systemResolver(),
    originalDst: originalDstOf,
    ca,
    upstreamCaPems: (config.egress.upstreamCaFiles ?? []).map((f) => readFileSync(f, 'utf8')),
    limits: { maxConnections: config.egress.maxConnections, bytesPerSec: config.egress.bytesPerSec },
    logger: logger.child({ component: 'egress' }),
    onDenied: (e) => {
      metrics.egressDenied.inc({ pool: e.pool })
      logger.info({ session: e.sessionId, host: e.host, address: e.address, port: e.port, reason: e.reason, via: e.via }, 'egress denied')
    },
  })
  const ports = await proxy.listen()
  await host.up(ports)
  logger.info({ proxy: host.proxyIp, ports, tag }, 'egress proxy ready')
  return {
    proxy, sealer,
    driver: { proxyIp: host.proxyIp, caCertPem: ca.caCertPem, tag },
    async stop() {
      await proxy.close()
    },
  }
}
