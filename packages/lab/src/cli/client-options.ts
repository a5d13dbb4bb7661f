import { resolve } from 'node:path'
import { LabClient } from '../client/client.ts'
import { readStoredApiKey } from '../gateway/api-key.ts'
import type { CliIo } from '../io.ts'
import { UsageError } from '../io.ts'

export interface ClientFlags {
  readonly url?: string
  readonly key?: string
  readonly dataDir?: string
}

/** URL: --url, INFRA_LAB_URL, or the local default; key: --key, INFRA_LAB_API_KEY, or the data dir. */
export function clientTarget(flags: ClientFlags, io: CliIo): { url: string; apiKey: string } {
  const url = flags.url ?? io.env.INFRA_LAB_URL ?? 'http://127.0.0.1:8080'
  const dataDir = resolve(io.cwd, flags.dataDir ?? io.env.INFRA_LAB_DATA_DIR ?? '.infra-lab')
  const key = flags.key ?? io.env.INFRA_LAB_API_KEY ?? readStoredApiKey(dataDir)
  if (!key) {
    throw new UsageError(`no API key: pass --key, set INFRA_LAB_API_KEY, or run from the directory where the gateway keeps ${dataDir}/api-key`)
  }
  return { url, apiKey: key }
}

export function clientFromFlags(flags: ClientFlags, io: CliIo): LabClient {
  const { url, apiKey } = clientTarget(flags, io)
  return new LabClient(url, apiKey)
}
