/**
 * Network sandboxes on Docker: one bridge network per gateway instance, made by the driver
 * (`dockerd --bridge=none` has no default bridge): `infra-lab-<tag>`, bridge `lx<tag>d`, on a /24
 * leased host-wide from 10.89.0.0/16, gateway .1 (the host). A container reaches the egress proxy
 * through its default route (the proxy address is the host's), and EgressHost's rules on
 * `lx<tag>*` allow nothing else.
 *
 * Two things Docker does not do are done per container (sealContainer):
 * - its bridge ports are isolated, so containers cannot reach each other on the bridge itself
 *   (below IP, where the host's forward rules never see them);
 * - Docker's embedded DNS server (127.0.0.11 inside every container on a user-defined network,
 *   answered by dockerd from the host's resolvers) is rejected by a rule in the container's own
 *   namespace, which the container cannot change (no capabilities): the proxy is the only resolver.
 */
import type { Logger } from 'pino'
import { DOCKER_EGRESS_RANGE, type EgressNames } from '../host/egress-net.ts'
import { subnetCandidates, type EgressLeases, type Lease } from '../host/egress-leases.ts'
import { HostToolError, IPROUTE_HINT, NSENTER_HINT, runTool } from '../host/host-tool.ts'
import { DriverError } from '../types.ts'
import { LABEL } from './container-spec.ts'
import type { DockerEngine } from './engine.ts'

/** Another network already uses a leased /24 (made outside the gateway): try the next one this often. */
const MAX_SUBNET_TRIES = 16

export interface EgressNetwork {
  readonly name: string
  readonly subnet: string
  readonly gateway: string
}

interface NetworkInspect {
  Name: string
  Options?: Record<string, string>
  IPAM?: { Config?: { Subnet?: string; Gateway?: string }[] }
}

/** How often teardown asks the engine to remove the network while it still lists endpoints, and how far apart. */
const REMOVE_ATTEMPTS = 10
const REMOVE_RETRY_MS = 300

export class DockerEgressNetwork {
  /** One ensure at a time; each create asks again, so a network removed from outside is made again. */
  private inflight: Promise<EgressNetwork> | undefined

  constructor(
    private readonly engine: DockerEngine,
    private readonly names: EgressNames,
    private readonly runtimeDir: string,
    private readonly leases: EgressLeases,
    private readonly logger: Logger,
  ) {}

  /** The network, made on first use (and kept: it outlives the gateway, like the sandboxes). */
  ensure(): Promise<EgressNetwork> {
    this.inflight ??= this.doEnsure().finally(() => (this.inflight = undefined))
    return this.inflight
  }

  private async doEnsure(): Promise<EgressNetwork> {
    const existing = await this.inspect()
    if (existing) {
      await this.keepLease(existing.subnet)
      return existing
    }
    // Subnets some other network holds stay leased while the next is tried, then go back.
    const overlapping: Lease[] = []
    try {
      for (let tries = 0; tries < MAX_SUBNET_TRIES; tries++) {
        const lease = await this.leases.acquire(subnetCandidates(DOCKER_EGRESS_RANGE), () => ({ runtimeDir: this.runtimeDir, dockerNetwork: this.names.dockerNetwork }))
        const made = await this.create(lease)
        if (made) return made
        overlapping.push(lease)
      }
    } finally {
      for (const lease of overlapping) await this.leases.release(lease)
    }
    throw new DriverError('unavailable', `docker network create ${this.names.dockerNetwork}: every subnet tried overlaps another network`)
  }

  /** Creates the network on a leased subnet; undefined when another network overlaps it. */
  private async create(lease: Lease): Promise<EgressNetwork | undefined> {
    const gateway = lease.value.replace(/0\/24$/, '1')
    const res = await this.engine.call('POST', '/networks/create', {
      Name: this.names.dockerNetwork, Driver: 'bridge', CheckDuplicate: true, EnableIPv6: false, Internal: false,
      IPAM: { Driver: 'default', Config: [{ Subnet: lease.value, Gateway: gateway }] },
      // No NAT and no traffic between containers, should the daemon manage iptables after all.
      Options: { 'com.docker.network.bridge.name': this.names.dockerBridge, 'com.docker.network.bridge.enable_ip_masquerade': 'false', 'com.docker.network.bridge.enable_icc': 'false' },
      Labels: { [LABEL.runtime]: this.runtimeDir },
    })
    if (res.status === 201) {
      this.logger.info({ network: this.names.dockerNetwork, subnet: lease.value }, 'docker network for network sandboxes created')
      return { name: this.names.dockerNetwork, subnet: lease.value, gateway }
    }
    const text = res.body.toString('utf8')
    if (/overlap/i.test(text)) return undefined
    await this.leases.release(lease)
    if (res.status === 409) {
      const made = await this.inspect() // another driver of this runtime dir made it meanwhile
      if (made) return made
    }
    throw new DriverError('unavailable', `docker network create ${this.names.dockerNetwork}: docker answered ${res.status} ${text.slice(0, 300)}`)
  }

  /** Removes the network and its lease (after every container). Idempotent. */
  async remove(): Promise<void> {
    const net = encodeURIComponent(this.names.dockerNetwork)
    for (let attempt = 1; ; attempt++) {
      const res = await this.engine.call('DELETE', `/networks/${net}`)
      if (res.status === 204 || res.status === 404) break
      const text = res.body.toString('utf8')
      // The engine can still list an endpoint of a container it has just removed: the network is
      // this runtime's own, so whatever is attached goes, and the remove is asked again.
      if (res.status === 403 && /active endpoints/i.test(text)) {
        const attached = await this.disconnectAll()
        if (attempt < REMOVE_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, REMOVE_RETRY_MS))
          continue
        }
        if (attached === 0) {
          // dockerd's own endpoint count drifted (it logs "Fixing inconsistent endpoint_cnt" at its
          // next start): nothing of ours is attached, and only a daemon restart lets the network
          // go. It is left, with its subnet lease, rather than failing the teardown.
          this.logger.warn({ network: this.names.dockerNetwork }, 'docker refuses to remove the empty egress network (a stale endpoint count in dockerd); left for a daemon restart')
          return
        }
      }
      throw new DriverError('unavailable', `docker network remove ${this.names.dockerNetwork}: docker answered ${res.status} ${text.slice(0, 300)}`)
    }
    for (const lease of await this.leases.owned(this.runtimeDir)) {
      if (lease.dockerNetwork !== undefined) await this.leases.release(lease)
    }
  }

  /** Force-disconnects every endpoint still on the network (best effort); returns how many were listed. */
  private async disconnectAll(): Promise<number> {
    const net = encodeURIComponent(this.names.dockerNetwork)
    const res = await this.engine.call('GET', `/networks/${net}`)
    if (res.status !== 200) return 0
    // By name as well as id: an endpoint whose container is gone is found by its name only.
    const attached = (JSON.parse(res.body.toString('utf8')) as { Containers?: Record<string, { Name?: string }> }).Containers ?? {}
    for (const [id, ep] of Object.entries(attached)) {
      for (const who of [id, ep.Name].filter((x): x is string => typeof x === 'string' && x !== '')) {
        await this.engine.call('POST', `/networks/${net}/disconnect`, { Container: who, Force: true })
      }
    }
    return Object.keys(attached).length
  }

  private async inspect(): Promise<EgressNetwork | undefined> {
    const res = await this.engine.call('GET', `/networks/${encodeURIComponent(this.names.dockerNetwork)}`)
    if (res.status === 404) return undefined
    if (res.status !== 200) throw new DriverError('unavailable', `docker network inspect ${this.names.dockerNetwork}: docker answered ${res.status}`)
    const net = JSON.parse(res.body.toString('utf8')) as NetworkInspect
    // The rules match the bridge by name: a network of that name on another bridge is not ours to use.
    if (net.Options?.['com.docker.network.bridge.name'] !== this.names.dockerBridge) {
      throw new DriverError('unavailable', `docker network ${this.names.dockerNetwork} is not on bridge ${this.names.dockerBridge}: remove it (docker network rm ${this.names.dockerNetwork})`)
    }
    const cfg = net.IPAM?.Config?.[0]
    if (!cfg?.Subnet || !cfg.Gateway) throw new DriverError('unavailable', `docker network ${this.names.dockerNetwork} has no IPv4 subnet: remove it (docker network rm)`)
    return { name: net.Name, subnet: cfg.Subnet, gateway: cfg.Gateway }
  }

  /** A network that outlived its lease (/run is emptied at boot, Docker's networks are not): lease its subnet again. */
  private async keepLease(subnet: string): Promise<Lease | undefined> {
    const mine = (await this.leases.owned(this.runtimeDir)).find((l) => l.value === subnet)
    if (mine) return mine
    return this.leases.acquire([subnet], () => ({ runtimeDir: this.runtimeDir, dockerNetwork: this.names.dockerNetwork })).catch((err: unknown) => {
      this.logger.warn({ subnet, err: (err as Error).message }, 'the docker network\'s subnet is leased by someone else')
      return undefined
    })
  }
}

/** The rule a network container gets in its own namespace: Docker's resolver is not one of its. Pure. */
export const CONTAINER_RULESET = [
  'table inet infra_lab_sandbox {',
  '  chain output {',
  '    type filter hook output priority raw; policy accept;',
  '    ip daddr 127.0.0.11 reject with icmpx admin-prohibited',
  '  }',
  '}',
  '',
].join('\n')

/** Shuts Docker's resolver out of the container (pid: its first process) and isolates the bridge's ports from each other. */
export async function sealContainer(pid: number, bridge: string): Promise<void> {
  await runTool('nsenter', [`--net=/proc/${pid}/ns/net`, '--', 'nft', '-f', '-'], { stdin: CONTAINER_RULESET, hint: `${NSENTER_HINT} nftables` })
  const ports = JSON.parse(await runTool('ip', ['-j', 'link', 'show', 'master', bridge], { hint: IPROUTE_HINT })) as { ifname: string }[]
  const batch = ports.map((p) => `link set dev ${p.ifname} type bridge_slave isolated on\n`).join('')
  if (batch === '') return
  // -force: a port whose container went away meanwhile does not stop the others; only that is fine.
  await runTool('ip', ['-force', '-b', '-'], { stdin: batch, hint: IPROUTE_HINT }).catch((err: unknown) => {
    const lines = err instanceof HostToolError ? err.stderr.split('\n').filter((l) => l.trim() !== '') : []
    if (lines.length === 0 || !lines.every((l) => /Cannot find device|Command failed/.test(l))) throw err
  })
}
