import { readFile, rename, writeFile } from 'node:fs/promises'

/** What the driver remembers about one sandbox, in sandboxes/<id>/meta.json (survives gateway restarts). */
export interface SandboxRecord {
  readonly id: string
  readonly pool: string
  /** Epoch ms when create started. */
  readonly createdAt: number
  /** The outer bwrap process and its start time (to tell a reused pid apart). */
  readonly pid: number
  readonly startTime: number
  readonly network: boolean
  /** A network sandbox's own address (its veth): the egress proxy tells sessions apart by it. */
  readonly egressIp?: string
  /** `starting` until the agent said hello; only `ready` sandboxes are listed. */
  readonly state: 'starting' | 'ready'
  /** Epoch ms after which a `starting` sandbox is abandoned (its creator died). */
  readonly helloDeadline: number
  readonly startMs?: number
  /** SANDBOX_LAYOUT_VERSION when it was made; absent in sandboxes of older versions. */
  readonly layout?: number
}

export async function writeRecord(path: string, rec: SandboxRecord): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, JSON.stringify(rec), { mode: 0o600 })
  await rename(tmp, path)
}

/** The record, or undefined when it is missing or unreadable. */
export async function readRecord(path: string): Promise<SandboxRecord | undefined> {
  try {
    const r = JSON.parse(await readFile(path, 'utf8')) as Partial<SandboxRecord>
    if (typeof r.id !== 'string' || typeof r.pid !== 'number' || typeof r.startTime !== 'number') return undefined
    return r as SandboxRecord
  } catch {
    return undefined
  }
}
