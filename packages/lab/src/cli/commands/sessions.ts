import { describeFailure, labFromFlags, type ClientFlags } from '../client-options.ts'
import type { CliIo, ExitCode } from '../../io.ts'
import { parseNetworkFlags, type NetworkFlags } from '../network-flags.ts'
import { formatTable } from '../table.ts'

export interface SessionsLsFlags extends ClientFlags {
  readonly user?: string
  readonly state?: 'starting' | 'running' | 'ended'
  readonly label?: string[]
  readonly limit?: number
  readonly cursor?: string
  readonly json?: boolean
}

/** `--label k=v` flags as a map; a string says what is wrong with one. */
export function parseLabelFlags(flags: readonly string[] | undefined): Record<string, string> | string {
  const labels: Record<string, string> = {}
  for (const f of flags ?? []) {
    const eq = f.indexOf('=')
    if (eq < 1) return `--label must be KEY=VALUE, got ${JSON.stringify(f)}`
    const key = f.slice(0, eq)
    // a session has one value per key: two would match nothing, which is surely not what was meant
    if (Object.hasOwn(labels, key)) return `--label ${key} is given twice`
    labels[key] = f.slice(eq + 1)
  }
  return labels
}

/** `infra-lab sessions ls`: a page of sessions (newest first) as a table. */
export async function sessionsLsCommand(flags: SessionsLsFlags, io: CliIo, now = Date.now()): Promise<ExitCode> {
  const labels = parseLabelFlags(flags.label)
  if (typeof labels === 'string') {
    io.stderr.write(`infra-lab sessions ls: ${labels}\n`)
    return 2
  }
  try {
    const page = await labFromFlags(flags, io).sessions.list({
      user: flags.user, state: flags.state, limit: flags.limit, cursor: flags.cursor, ...(Object.keys(labels).length > 0 ? { labels } : {}),
    })
    const list = page.map((s) => s.info)
    if (flags.json) {
      io.stdout.write(`${JSON.stringify({ sessions: list, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, null, 2)}\n`)
      return 0
    }
    io.stdout.write(formatTable([['ID', 'USER', 'POOL', 'STATE', 'START', 'AGE', 'ENDED'],
      ...list.map((s) => [s.id, s.user, s.pool, s.state, s.warm ? 'warm' : 'cold', age(now - Date.parse(s.createdAt)), s.endedReason ?? ''])]))
    if (page.nextCursor) io.stderr.write(`more sessions: add --cursor ${page.nextCursor}\n`)
    return 0
  } catch (err) {
    io.stderr.write(`infra-lab sessions ls: ${describeFailure(err)}\n`)
    return 1
  }
}

/** `infra-lab sessions network ID [--egress M] [--allow P]... [--deny P]...`: shows, or replaces then shows. */
export async function sessionsNetworkCommand(id: string, flags: ClientFlags & NetworkFlags & { json?: boolean }, io: CliIo): Promise<ExitCode> {
  const policy = parseNetworkFlags(flags)
  if (typeof policy === 'string') {
    io.stderr.write(`infra-lab sessions network: ${policy}\n`)
    return 2
  }
  try {
    const session = await labFromFlags(flags, io).sessions.get(id)
    const net = policy ? await session.setNetwork(policy) : await session.network()
    if (flags.json) {
      io.stdout.write(`${JSON.stringify(net, null, 2)}\n`)
      return 0
    }
    const p = net.policy
    io.stdout.write(`egress: ${p.egress}\n`)
    if (p.allow?.length) io.stdout.write(`allow:  ${p.allow.join(' ')}\n`)
    if (p.deny?.length) io.stdout.write(`deny:   ${p.deny.join(' ')}\n`)
    for (const c of net.credentials) io.stdout.write(`credential: ${c.header} for ${c.host}\n`)
    if (net.denied.length) io.stdout.write(`denied (last ${net.denied.length}):\n`)
    for (const d of net.denied) io.stdout.write(`  ${d.at}  ${d.via.padEnd(11)} ${(d.host ?? d.address ?? '?')}:${d.port}  ${d.reason}\n`)
    return 0
  } catch (err) {
    io.stderr.write(`infra-lab sessions network: ${describeFailure(err)}\n`)
    return 1
  }
}

/** `infra-lab sessions kill ID`: ends a session (no error if it already ended). */
export async function sessionsKillCommand(id: string, flags: ClientFlags, io: CliIo): Promise<ExitCode> {
  try {
    const lab = labFromFlags(flags, io)
    await (await lab.sessions.get(id)).end()
    io.stdout.write(`session ${id} ended\n`)
    return 0
  } catch (err) {
    io.stderr.write(`infra-lab sessions kill: ${describeFailure(err)}\n`)
    return 1
  }
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
}
