import type { OpRequest } from '@infra-lab/protocol'
import { MAX_OPEN_OPS } from '@infra-lab/protocol/ops-limits'
import { log } from '../log.ts'
import type { ClaimContext } from './exec-env.ts'
import { ExecOps, type ExecSettings } from './exec-op.ts'
import { readPath, removePath, writeFile } from './file-ops.ts'
import { OpContext } from './op-context.ts'
import { OpLink, type OpsSink } from './op-link.ts'
import { followOutput, listProcesses, signalProcess, writeStdin } from './process-ops.ts'
import { ProcessTable } from './process-table.ts'

/**
 * Runs the gateway's operations in this process, as its uid: commands through the exec helper,
 * files with the file system calls. Operations belong to one gateway connection; a new one
 * cancels the old one's (their processes run on, in the table). Before a claim every operation
 * fails with `not_claimed`; during one, it waits for it.
 */
export class OpsServer {
  readonly table = new ProcessTable()
  private readonly exec: ExecOps
  private link: OpLink | undefined
  private ops = new Map<number, OpContext>()
  private claim: Promise<ClaimContext | undefined> | undefined

  constructor(settings: ExecSettings) {
    this.exec = new ExecOps(this.table, settings)
  }

  /** The claim being applied (resolves undefined when it failed). */
  setClaim(claim: Promise<ClaimContext | undefined>): void {
    this.claim = claim
  }

  /** A new gateway connection: the previous one's operations are cancelled and go quiet. */
  connect(sink: OpsSink): void {
    this.disconnect()
    this.link = new OpLink(sink)
  }

  disconnect(): void {
    this.link?.kill()
    this.link = undefined
    const ops = [...this.ops.values()]
    this.ops = new Map()
    for (const op of ops) op.cancel()
  }

  request(m: OpRequest): void {
    const link = this.link
    if (!link) return
    if (m.type === 'cancel') return this.ops.get(m.opId)?.cancel()
    // A gateway never reuses an open id; answering would reach the operation that holds it.
    if (this.ops.has(m.opId)) return log('op_id_reused', { opId: m.opId })
    const ops = this.ops
    const ctx = new OpContext(link, m.opId, (c) => ops.get(c.opId) === c && ops.delete(c.opId))
    if (ops.size >= MAX_OPEN_OPS) return ctx.error('internal', `more than ${MAX_OPEN_OPS} operations open`)
    ops.set(m.opId, ctx)
    this.run(ctx, m).catch((err: unknown) => {
      log('op_failed', { type: m.type, message: err instanceof Error ? err.message : 'unknown' })
      ctx.error('internal', 'the agent failed to run the operation')
    })
  }

  stream(opId: number, fd: number, data: Buffer): void {
    this.ops.get(opId)?.stream(fd, data)
  }

  credit(opId: number, fd: number, bytes: number): void {
    this.ops.get(opId)?.credit(fd, bytes)
  }

  private async run(ctx: OpContext, m: Exclude<OpRequest, { type: 'cancel' }>): Promise<void> {
    const claim = this.claim ? await this.claim : undefined
    if (!claim) return ctx.error('not_claimed', 'the sandbox has no session')
    if (ctx.cancelled && m.type !== 'exec') return ctx.done()
    switch (m.type) {
      case 'exec':
        return this.exec.start(ctx, m, claim)
      case 'list_processes':
        return listProcesses(ctx, this.table)
      case 'process_output':
        return followOutput(ctx, this.table, m)
      case 'process_stdin':
        return writeStdin(ctx, this.table, m)
      case 'process_signal':
        return signalProcess(ctx, this.table, m)
      case 'read_path':
        return readPath(ctx, claim, m)
      case 'write_file':
        return writeFile(ctx, claim, m)
      case 'remove_path':
        return removePath(ctx, claim, m)
    }
  }
}
