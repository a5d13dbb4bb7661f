import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { z } from 'zod'
import { poolSpecSchema, type PoolSpec } from '../spec/pool-spec.ts'
import { ecsFromEnv, ecsFromFlags, missingEcsFields, type EcsConfig, type EcsFlags } from './ecs.ts'
import { egressConfigSchema, gatewayConfigSchema, type GatewayConfigInput } from './schema.ts'
import type { StoreConfig } from './store.ts'
import { defaultReplicaId } from './replica.ts'

export interface GatewayConfig {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  readonly workspacesDir: string
  /** 0: no quota. */
  readonly workspaceQuotaBytes: number
  readonly apiKey: string | undefined
  readonly attachTokenTtlS: number
  readonly maxBodyBytes: number
  readonly wsMaxFrameBytes: number
  /** Largest file upload, in bytes. */
  readonly maxUploadBytes: number
  readonly logLevel: z.infer<typeof gatewayConfigSchema>['logLevel']
  readonly pools: readonly PoolSpec[]
  /** Set when given anywhere; complete (cluster, task definition, subnets) when a pool uses ecs. */
  readonly ecs: EcsConfig | undefined
  /** The egress proxy of network pools; file paths absolute. */
  readonly egress: z.infer<typeof egressConfigSchema>
  readonly maxSessionsPerUser: number
  readonly maxSessionTimeoutS: number
  readonly retainEndedS: number
  readonly allowPrivateWebhooks: boolean
  /** No url: SQLite in the data dir. */
  readonly store: StoreConfig
  /** This gateway's name among replicas. */
  readonly replicaId: string
  readonly leaseRenewMs: number
}

/** Flags as the CLI parsed them (undefined: not given). */
export interface GatewayFlags extends EcsFlags {
  readonly config?: string
  readonly host?: string
  readonly port?: number
  readonly dataDir?: string
  readonly workspaces?: string
  /** A size string (`1G`, `512M`, bytes, `off`). */
  readonly workspaceQuota?: string
  /** A size string, like workspaceQuota (`off` is refused: uploads always have a limit). */
  readonly maxUploadBytes?: string
  readonly driver?: string
  readonly poolSize?: number
  readonly maxSessionsPerUser?: number
  /** A duration (`7d`, `12h`, seconds). */
  readonly retainEnded?: string
  readonly maxSessionTimeout?: string
  readonly allowPrivateWebhooks?: boolean
  /** A PostgreSQL URL (`--store`). */
  readonly store?: string
  readonly replicaId?: string
}

export type ConfigResult = { ok: true; config: GatewayConfig; warnings: string[] } | { ok: false; errors: string[] }

const ENV_KEYS = {
  INFRA_LAB_API_KEY: 'apiKey',
  INFRA_LAB_HOST: 'host',
  INFRA_LAB_PORT: 'port',
  INFRA_LAB_DATA_DIR: 'dataDir',
  INFRA_LAB_DRIVER: 'driver',
  INFRA_LAB_LOG_LEVEL: 'logLevel',
  INFRA_LAB_WORKSPACE_QUOTA: 'workspaceQuotaBytes',
  INFRA_LAB_MAX_UPLOAD_BYTES: 'maxUploadBytes',
  INFRA_LAB_RETAIN_ENDED: 'retainEndedS',
  INFRA_LAB_REPLICA_ID: 'replicaId',
} as const

function formatIssues(prefix: string, error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const path = [prefix, ...i.path.map(String)].filter(Boolean).join('.')
    return i.code === 'unrecognized_keys' ? `${path ? `${path}: ` : ''}unknown option(s) ${i.keys.join(', ')}` : `${path}: ${i.message}`
  })
}

/**
 * Parse -> normalize -> cross-check -> freeze. Precedence: flag > env > file > default.
 * Never throws for bad input: returns every error at once, each saying what to fix.
 */
export function loadGatewayConfig(flags: GatewayFlags, env: Readonly<Record<string, string | undefined>>, cwd: string): ConfigResult {
  const errors: string[] = []
  const warnings: string[] = []

  let file: Record<string, unknown> = {}
  if (flags.config) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(resolve(cwd, flags.config), 'utf8'))
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) errors.push(`${flags.config}: must hold a JSON object`)
      else file = parsed as Record<string, unknown>
    } catch (err) {
      errors.push(`${flags.config}: ${(err as Error).message}`)
    }
  }

  const fromEnv: Record<string, unknown> = {}
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env[name]
    if (v === undefined || v === '') continue
    fromEnv[key] = key === 'port' ? Number(v) : v
  }
  const fromFlags: Record<string, unknown> = {}
  if (flags.host !== undefined) fromFlags.host = flags.host
  if (flags.port !== undefined) fromFlags.port = flags.port
  if (flags.dataDir !== undefined) fromFlags.dataDir = flags.dataDir
  if (flags.workspaces !== undefined) fromFlags.workspacesDir = flags.workspaces
  if (flags.workspaceQuota !== undefined) fromFlags.workspaceQuotaBytes = flags.workspaceQuota
  if (flags.maxUploadBytes !== undefined) fromFlags.maxUploadBytes = flags.maxUploadBytes
  if (flags.driver !== undefined) fromFlags.driver = flags.driver
  if (flags.maxSessionsPerUser !== undefined) fromFlags.maxSessionsPerUser = flags.maxSessionsPerUser
  if (flags.retainEnded !== undefined) fromFlags.retainEndedS = flags.retainEnded
  if (flags.maxSessionTimeout !== undefined) fromFlags.maxSessionTimeoutS = flags.maxSessionTimeout
  if (flags.allowPrivateWebhooks !== undefined) fromFlags.allowPrivateWebhooks = flags.allowPrivateWebhooks
  if (flags.replicaId !== undefined) fromFlags.replicaId = flags.replicaId

  // The store and ecs sections merge field by field, with the same precedence.
  const storeUrl = flags.store ?? (env.INFRA_LAB_DATABASE_URL || undefined)
  if (storeUrl !== undefined) {
    const fileStore = file.store
    fromFlags.store = fileStore && typeof fileStore === 'object' && !Array.isArray(fileStore) ? { ...fileStore, url: storeUrl } : fileStore ?? { url: storeUrl }
  }

  const ecs = { ...ecsFromEnv(env), ...ecsFromFlags(flags) }
  if (Object.keys(ecs).length > 0) {
    const fileEcs = file.ecs
    fromFlags.ecs = fileEcs && typeof fileEcs === 'object' && !Array.isArray(fileEcs) ? { ...fileEcs, ...ecs } : fileEcs ?? ecs
  }

  const merged: GatewayConfigInput = { ...file, ...fromEnv, ...fromFlags } as GatewayConfigInput
  const parsed = gatewayConfigSchema.safeParse(merged)
  if (!parsed.success) return { ok: false, errors: [...errors, ...formatIssues('', parsed.error)] }
  const c = parsed.data

  // Pools: the config file's list, or one pool named `default` on the chosen driver.
  const poolInputs = c.pools.length > 0 ? c.pools : [{ name: 'default' }]
  const pools: PoolSpec[] = []
  poolInputs.forEach((raw, i) => {
    const input: Record<string, unknown> = { driver: c.driver, ...raw }
    if (flags.poolSize !== undefined && input.name === 'default') {
      input.policy = { kind: 'fixed', size: flags.poolSize }
      const max = typeof input.maxSize === 'number' ? input.maxSize : 64
      if (flags.poolSize > max) input.maxSize = flags.poolSize
    }
    const p = poolSpecSchema.safeParse(input)
    if (!p.success) errors.push(...formatIssues(`pools[${i}]`, p.error))
    else pools.push(p.data)
  })
  const names = new Set<string>()
  for (const p of pools) {
    if (names.has(p.name)) errors.push(`pools: the name "${p.name}" is used twice`)
    names.add(p.name)
  }
  if (flags.poolSize !== undefined && !names.has('default')) errors.push('--pool-size applies to the pool named "default", and the config defines none')
  if (pools.some((p) => p.driver === 'ecs')) errors.push(...missingEcsFields(c.ecs))
  if (errors.length > 0) return { ok: false, errors }

  if (c.host !== '127.0.0.1' && c.host !== 'localhost' && c.host !== '::1') {
    warnings.push(`the gateway listens on ${c.host}: anyone who can reach it and holds the API key can start shells`)
  }
  const dataDir = isAbsolute(c.dataDir) ? c.dataDir : resolve(cwd, c.dataDir)
  const workspacesDir = c.workspacesDir ? resolve(cwd, c.workspacesDir) : resolve(dataDir, 'workspaces')

  const config: GatewayConfig = {
    host: c.host,
    port: c.port,
    dataDir,
    workspacesDir,
    workspaceQuotaBytes: c.workspaceQuotaBytes,
    apiKey: c.apiKey,
    attachTokenTtlS: c.attachTokenTtlS,
    maxBodyBytes: c.maxBodyBytes,
    wsMaxFrameBytes: c.wsMaxFrameBytes,
    maxUploadBytes: c.maxUploadBytes,
    logLevel: c.logLevel,
    maxSessionsPerUser: c.maxSessionsPerUser,
    maxSessionTimeoutS: c.maxSessionTimeoutS,
    retainEndedS: c.retainEndedS,
    allowPrivateWebhooks: c.allowPrivateWebhooks,
    store: c.store,
    replicaId: c.replicaId ?? defaultReplicaId(),
    leaseRenewMs: c.leaseRenewMs,
    pools,
    ecs: c.ecs,
    egress: {
      ...c.egress,
      ...(c.egress.upstreamCaFiles ? { upstreamCaFiles: c.egress.upstreamCaFiles.map((f) => resolve(cwd, f)) } : {}),
      ...(c.egress.credentialKeyFile ? { credentialKeyFile: resolve(cwd, c.egress.credentialKeyFile) } : {}),
    },
  }
  return { ok: true, config: deepFreeze(config), warnings }
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v)
    Object.freeze(o)
  }
  return o
}
