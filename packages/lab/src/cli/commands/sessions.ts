import { describeFailure, labFromFlags, type ClientFlags } from '../client-options.ts'
import type { CliIo, ExitCode } from '../../io.ts'
import { parseNetworkFlags, type NetworkFlags } from '../network-flags.ts'

export interface SessionsLsFlags extends ClientFlags {
  readonly user?: string
  readonly state?: 'starting' | 'running' | 'ended'
  readonly json?: boolean
}

/** `infra-lab sessions ls`: a table of sessions (newest first). */
export async function sessionsLsCommand(flags: SessionsLsFlags, io: CliIo, now = Date.now()): Promise<ExitCode> {
  try {
    const list = (await labFromFlags(flags, io).sessions.list({ user: flags.user, state: flags.state })).map((s) => s.info)
    if (flags.json) {
      io.stdout.write(`${JSON.stringify({ sessions: list }, null, 2)}\n`)
      return 0
    }
    const rows = [['ID', 'USER', 'POOL', 'STATE', 'START', 'AGE', 'ENDED'],
      ...list.map((s) => [s.id, s.user, s.pool, s.state, s.warm ? 'warm' : 'cold', age(now - Date.parse(s.createdAt)), s.endedReason ?? ''])]
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
    for (const r of rows) io.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`)
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
