import { resolve } from 'node:path'
import { InfraLab, InfraLabError } from '@infra-lab/sdk'
import WebSocket from 'ws'
import { readStoredApiKey } from '../gateway/api-key.ts'
import type { CliIo } from '../io.ts'
import { UsageError } from '../io.ts'

export interface ClientFlags {
  readonly url?: string
  readonly key?: string
  readonly dataDir?: string
}

/** `ws` without compression: terminal bytes are small and latency-bound. */
class TerminalSocket extends WebSocket {
  constructor(url: string) {
    super(url, { perMessageDeflate: false })
  }
}

/** URL: --url, INFRA_LAB_URL, or the local default; key: --key, INFRA_LAB_API_KEY, or the data dir. */
export function labFromFlags(flags: ClientFlags, io: CliIo): InfraLab {
  const url = flags.url ?? io.env.INFRA_LAB_URL ?? 'http://127.0.0.1:8080'
  const dataDir = resolve(io.cwd, flags.dataDir ?? io.env.INFRA_LAB_DATA_DIR ?? '.infra-lab')
  const key = flags.key ?? io.env.INFRA_LAB_API_KEY ?? readStoredApiKey(dataDir)
  if (!key) {
    throw new UsageError(`no API key: pass --key, set INFRA_LAB_API_KEY, or run from the directory where the gateway keeps ${dataDir}/api-key`)
  }
  try {
    return new InfraLab({ url, apiKey: key, WebSocket: TerminalSocket })
  } catch (err) {
    throw new UsageError(`--url: ${(err as Error).message.replace(/^InfraLab: /, '')}`)
  }
}

/** One line for a failed call: the gateway's message, the fields it names, when to retry. */
export function describeFailure(err: unknown): string {
  if (!(err instanceof InfraLabError)) return err instanceof Error ? err.message : String(err)
  const fields = err.details?.length && !err.message.includes(err.details[0]!.field) ? ` (${err.details.map((d) => `${d.field}: ${d.message}`).join('; ')})` : ''
  const retry = err.retryAfterS !== undefined ? ` (retry after ${err.retryAfterS} s)` : ''
  return `${err.message}${fields}${retry}`
}
