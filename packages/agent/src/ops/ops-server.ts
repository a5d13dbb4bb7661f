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
 * The operations of one gateway connection: their ids are the connection's own (two gateways
 * may use the same id at once), and its answers go only to it.
 */
export interface OpsConnection {
  request(m: OpRequest): void
  stream(opId: number, fd: number, data: Buffer): void
  credit(opId: number, fd: number, bytes: number): void
  /** The connection is gone: its operations are cancelled and go quiet (their processes run on, in the table). */
  close(): void
}

/**
 * Runs the gateway's operations in this process, as its uid: commands through the exec helper,
 * files with the file system calls. Operations belong to the gateway connection that asked
 * (several gateways may be connected: replicas); when it closes they are cancelled and their
 * processes run on, in the table, for any gateway to follow. Before a claim every operation fails
 * with `not_claimed`; during one, it waits for it.
 */
export class OpsServer {
  readonly table = new ProcessTable()
  private readonly exec: ExecOps
  private claim: Promise<ClaimContext | undefined> | undefined

  /** `maxOpenOps`: per connection (a worker serving several gateways through one pipe takes their sum). */
  constructor(settings: ExecSettings, private readonly maxOpenOps = MAX_OPEN_OPS) {
    this.exec = new ExecOps(this.table, settings)
  }

  /** The claim being applied (resolves undefined when it failed). */
  setClaim(claim: Promise<ClaimContext | undefined>): void {
    this.claim = claim
  }

  /** A gateway connection's operations, answered through `sink`. */
  connect(sink: OpsSink): OpsConnection {
    const link = new OpLink(sink)
    let ops = new Map<number, OpContext>()
    return {
      request: (m) => {
        if (!link.alive) return
        if (m.type === 'cancel') return ops.get(m.opId)?.cancel()
        // A gateway never reuses an open id; answering would reach the operation that holds it.
        if (ops.has(m.opId)) return log('op_id_reused', { opId: m.opId })
        const mine = ops
        const ctx = new OpContext(link, m.opId, (c) => mine.get(c.opId) === c && mine.delete(c.opId))
        if (mine.size >= this.maxOpenOps) return ctx.error('internal', `more than ${this.maxOpenOps} operations open`)
        mine.set(m.opId, ctx)
        this.run(ctx, m).catch((err: unknown) => {
          log('op_failed', { type: m.type, message: err instanceof Error ? err.message : 'unknown' })
          ctx.error('internal', 'the agent failed to run the operation')
        })
      },
      stream: (opId, fd, data) => ops.get(opId)?.stream(fd, data),
      credit: (opId, fd, bytes) => ops.get(opId)?.credit(fd, bytes),
      close: () => {
        link.kill()
        const open = [...ops.values()]
        ops = new Map()
        for (const op of open) op.cancel()
      },
    }
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
