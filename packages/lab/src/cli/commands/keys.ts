import type { KeyInfo, KeySecret } from '@infra-lab/sdk'
import { describeFailure, labFromFlags, type ClientFlags } from '../client-options.ts'
import { formatTable, shortTime } from '../table.ts'
import type { CliIo, ExitCode } from '../../io.ts'

export interface KeysCreateFlags extends ClientFlags {
  readonly name: string
  readonly users?: string[]
  readonly pools?: string[]
  readonly maxSessions?: number
  readonly createsPerMin?: number
  readonly expiresAt?: string
  readonly json?: boolean
}

/** Runs one keys call: the gateway's refusal (403 for a scoped key, 404 for an unknown id) becomes one line and exit 1. */
async function run(what: string, io: CliIo, fn: () => Promise<void>): Promise<ExitCode> {
  try {
    await fn()
    return 0
  } catch (err) {
    io.stderr.write(`infra-lab keys ${what}: ${describeFailure(err)}\n`)
    return 1
  }
}

/** The secret, once: the gateway keeps only its hash. */
function printSecret(s: KeySecret, verb: string, flags: { json?: boolean }, io: CliIo): void {
  if (flags.json) {
    io.stdout.write(`${JSON.stringify(s, null, 2)}\n`)
    return
  }
  io.stdout.write(`${verb} key ${s.id} (${s.name})\nsecret: ${s.key}\n`)
  io.stderr.write(`Keep the secret now: it is not shown again (infra-lab keys rotate ${s.id} makes a new one).\n`)
}

/** `infra-lab keys create --name N [--users p,...] [--pools a,...] [--max-sessions n] [--creates-per-min n] [--expires-at ISO]`. */
export async function keysCreateCommand(flags: KeysCreateFlags, io: CliIo): Promise<ExitCode> {
  // An empty list must not quietly become "every user" (what leaving the flag out means).
  for (const [flag, list] of [['--users', flags.users], ['--pools', flags.pools]] as const) {
    if (list !== undefined && list.length === 0) {
      io.stderr.write(`infra-lab keys create: ${flag} names none; leave it out for all\n`)
      return 2
    }
  }
  let expiresAt: string | undefined
  if (flags.expiresAt !== undefined) {
    const ms = Date.parse(flags.expiresAt)
    if (Number.isNaN(ms)) {
      io.stderr.write(`infra-lab keys create: --expires-at must be a time, e.g. 2027-01-31 or 2027-01-31T18:00:00Z; got ${JSON.stringify(flags.expiresAt)}\n`)
      return 2
    }
    expiresAt = new Date(ms).toISOString()
  }
  return run('create', io, async () => {
    const created = await labFromFlags(flags, io).keys.create({
      name: flags.name,
      ...(flags.users !== undefined ? { users: flags.users } : {}),
      ...(flags.pools !== undefined ? { pools: flags.pools } : {}),
      ...(flags.maxSessions !== undefined ? { maxSessions: flags.maxSessions } : {}),
      ...(flags.createsPerMin !== undefined ? { createsPerMin: flags.createsPerMin } : {}),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    })
    printSecret(created, 'created', flags, io)
  })
}

function limits(k: KeyInfo): string {
  const parts = [k.maxSessions !== undefined ? `${k.maxSessions} sessions` : '', k.createsPerMin !== undefined ? `${k.createsPerMin}/min` : ''].filter(Boolean)
  return parts.length > 0 ? parts.join(', ') : '-'
}

/** `infra-lab keys ls`: every key (revoked ones too), never a secret. */
export async function keysLsCommand(flags: ClientFlags & { json?: boolean }, io: CliIo): Promise<ExitCode> {
  return run('ls', io, async () => {
    const keys = await labFromFlags(flags, io).keys.list()
    if (flags.json) {
      io.stdout.write(`${JSON.stringify({ keys }, null, 2)}\n`)
      return
    }
    if (keys.length === 0) {
      io.stdout.write('no keys: infra-lab keys create --name NAME makes one\n')
      return
    }
    io.stdout.write(formatTable([
      ['ID', 'NAME', 'USERS', 'POOLS', 'LIMITS', 'OPEN', 'CREATED', 'EXPIRES', 'REVOKED'],
      ...keys.map((k) => [
        k.id, k.name, k.users?.join(',') ?? '*', k.pools?.join(',') ?? '*', limits(k), String(k.openSessions),
        shortTime(k.createdAt), shortTime(k.expiresAt), shortTime(k.revokedAt),
      ]),
    ]))
  })
}

/** `infra-lab keys revoke ID`: the key is refused from now on; its sessions keep running. */
export async function keysRevokeCommand(id: string, flags: ClientFlags & { json?: boolean }, io: CliIo): Promise<ExitCode> {
  return run('revoke', io, async () => {
    await labFromFlags(flags, io).keys.revoke(id)
    io.stdout.write(flags.json ? `${JSON.stringify({ id, revoked: true })}\n` : `key ${id} revoked (its sessions keep running: infra-lab sessions kill ends one)\n`)
  })
}

/** `infra-lab keys rotate ID`: a new secret, printed once; the old one is refused at once. */
export async function keysRotateCommand(id: string, flags: ClientFlags & { json?: boolean }, io: CliIo): Promise<ExitCode> {
  return run('rotate', io, async () => printSecret(await labFromFlags(flags, io).keys.rotate(id), 'rotated', flags, io))
}
