/**
 * Addresses and Docker subnets leased host-wide, so that several gateways (parallel test files,
 * two data dirs) never hand out the same one: one file per lease in EGRESS_LEASES_DIR, made
 * atomically with its content (written aside, then hard-linked into place, which fails if the
 * name exists). A lease names its owner (runtime dir, sandbox) and the host objects made for it,
 * so whoever finds it later (destroy, list, teardown) can remove them without other records.
 */
import { randomBytes } from 'node:crypto'
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { readdirIfExists } from './fs-util.ts'
import { EGRESS_LEASES_DIR, intToIpv4, ipv4ToInt, parseIpv4Subnet } from './egress-net.ts'

/** What a lease file holds. */
export interface LeaseRecord {
  /** The driver's runtime dir: teardown releases its own leases only. */
  readonly runtimeDir: string
  /** The sandbox an address belongs to; absent for a Docker subnet. */
  readonly sandboxId?: string
  /** Host objects made for the lease, removed with it. */
  readonly netns?: string
  readonly iface?: string
  readonly dockerNetwork?: string
}

export interface Lease extends LeaseRecord {
  /** The leased address (10.88.0.5) or subnet (10.89.3.0/24). */
  readonly value: string
}

/** File names cannot hold `/`: a subnet's lease is `10.89.3.0_24`. */
const fileOf = (value: string) => value.replace('/', '_')
const valueOf = (file: string) => file.replace('_', '/')
const LEASE_NAME_RE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(_\d{1,2})?$/

export class EgressLeases {
  constructor(readonly dir: string = EGRESS_LEASES_DIR) {}

  /**
   * Leases the first free value of `candidates` for `record(value)`. Throws when all are taken.
   * Safe against other processes doing the same: the link either creates the name or fails.
   */
  async acquire(candidates: Iterable<string>, record: (value: string) => LeaseRecord): Promise<Lease> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const taken = new Set(await readdirIfExists(this.dir))
    const tmp = join(this.dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`)
    for (const value of candidates) {
      if (taken.has(fileOf(value))) continue
      const rec = record(value)
      await writeFile(tmp, JSON.stringify(rec), { mode: 0o600 })
      try {
        await link(tmp, join(this.dir, fileOf(value)))
        return { ...rec, value }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      } finally {
        await unlink(tmp).catch(() => undefined)
      }
    }
    throw new Error(`no free egress lease left in ${this.dir}: every candidate is taken`)
  }

  /** Every lease on the host; unreadable or half-written files are skipped. */
  async list(): Promise<Lease[]> {
    const out: Lease[] = []
    for (const file of await readdirIfExists(this.dir)) {
      if (!LEASE_NAME_RE.test(file)) continue
      const rec = await this.read(file)
      if (rec) out.push({ ...rec, value: valueOf(file) })
    }
    return out
  }

  /** The leases of one runtime dir (and sandbox, when given). */
  async owned(runtimeDir: string, sandboxId?: string): Promise<Lease[]> {
    return (await this.list()).filter((l) => l.runtimeDir === runtimeDir && (sandboxId === undefined || l.sandboxId === sandboxId))
  }

  /** Removes a lease if it is still the one given (same owner); a missing one is fine. */
  async release(lease: Lease): Promise<void> {
    const file = fileOf(lease.value)
    const rec = await this.read(file)
    if (!rec || rec.runtimeDir !== lease.runtimeDir || rec.sandboxId !== lease.sandboxId) return
    await unlink(join(this.dir, file)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }

  private async read(file: string): Promise<LeaseRecord | undefined> {
    try {
      const r = JSON.parse(await readFile(join(this.dir, file), 'utf8')) as Partial<LeaseRecord>
      return typeof r.runtimeDir === 'string' ? (r as LeaseRecord) : undefined
    } catch {
      return undefined
    }
  }
}

/** Sandbox addresses of `subnet` in order, skipping its network and broadcast addresses and `reserved`. */
export function* addressCandidates(subnet: string, reserved: readonly string[]): Generator<string> {
  const s = parseIpv4Subnet(subnet)
  for (let i = 1; i < s.size - 1; i++) {
    const a = intToIpv4(s.base + i)
    if (!reserved.includes(a)) yield a
  }
}

/** The /24 subnets of `range` in order (10.89.0.0/24, 10.89.1.0/24, ...). */
export function* subnetCandidates(range: string): Generator<string> {
  const s = parseIpv4Subnet(range)
  for (let i = 0; i < s.size / 256; i++) yield `${intToIpv4(s.base + i * 256)}/24`
}

/** The index of `address` in `subnet` (names a local sandbox's veth). */
export function addressIndex(subnet: string, address: string): number {
  const s = parseIpv4Subnet(subnet)
  const index = ipv4ToInt(address) - s.base
  if (index < 0 || index >= s.size) throw new Error(`${address} is not in ${subnet}`)
  return index
}
