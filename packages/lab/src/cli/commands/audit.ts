import { describeFailure, labFromFlags, type ClientFlags } from '../client-options.ts'
import { formatTable, shortTime } from '../table.ts'
import type { CliIo, ExitCode } from '../../io.ts'

export interface AuditFlags extends ClientFlags {
  readonly since?: string
  readonly limit?: number
  readonly cursor?: string
  readonly json?: boolean
}

/** `infra-lab audit [--since TIME] [--limit N] [--cursor C]`: one page of the audit log, oldest first (admin key). */
export async function auditCommand(flags: AuditFlags, io: CliIo): Promise<ExitCode> {
  let since: Date | undefined
  if (flags.since !== undefined) {
    since = new Date(flags.since)
    if (Number.isNaN(since.getTime())) {
      io.stderr.write(`infra-lab audit: --since must be a time, e.g. 2026-12-01 or 2026-12-01T18:00:00Z; got ${JSON.stringify(flags.since)}\n`)
      return 2
    }
  }
  try {
    const page = await labFromFlags(flags, io).audit({
      ...(since ? { since } : {}), ...(flags.limit !== undefined ? { limit: flags.limit } : {}), ...(flags.cursor !== undefined ? { cursor: flags.cursor } : {}),
    })
    if (flags.json) {
      io.stdout.write(`${JSON.stringify(page, null, 2)}\n`)
      return 0
    }
    io.stdout.write(formatTable([
      ['AT', 'ACTOR', 'ACTION', 'TARGET', 'DETAILS'],
      ...page.entries.map((e) => [shortTime(e.at, true), e.actor, e.action, e.target, JSON.stringify(e.details)]),
    ]))
    if (page.nextCursor) io.stderr.write(`more entries: infra-lab audit --cursor ${page.nextCursor}\n`)
    return 0
  } catch (err) {
    io.stderr.write(`infra-lab audit: ${describeFailure(err)}\n`)
    return 1
  }
}
