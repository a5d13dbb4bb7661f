import { z } from 'zod'
import { DRIVER_NAMES, poolSpecSchema } from '../spec/pool-spec.ts'
import { ecsConfigSchema } from './ecs.ts'
import { durationSSchema } from './duration.ts'
import { sizeBytesSchema } from './size.ts'
import { DEFAULT_STORE_POOL_SIZE, storeConfigSchema } from './store.ts'
import { DEFAULT_LEASE_RENEW_MS, replicaIdSchema } from './replica.ts'

/** Per-user workspace quota; the drivers' default is the same (drivers/host/resources.ts). */
export const DEFAULT_WORKSPACE_QUOTA_BYTES = 1024 ** 3
/** Below this an ext4 image is mostly its own metadata. */
export const MIN_WORKSPACE_QUOTA_BYTES = 16 * 1024 ** 2

/** Largest file `PUT /v1/sessions/{id}/files` takes (the body streams through; it is never held whole). */
export const DEFAULT_MAX_UPLOAD_BYTES = 1024 ** 3

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export const egressConfigSchema = z.object({
  /** Most upstream connections one session may hold open at once. */
  maxConnections: z.number().int().min(1).max(65_536).default(256),
  /** Bytes per second one session may move through the proxy, both directions together; 0: no cap. */
  bytesPerSec: sizeBytesSchema(0).default(0),
  /**
   * A fixed name -> addresses map the proxy resolves with instead of DNS (an air-gapped site, or
   * tests that stand up their own "internet"); names not in it do not resolve.
   */
  hosts: z.record(z.string(), z.array(z.string().min(1)).min(1)).optional(),
  /** Extra PEM files of CAs the proxy trusts for upstream TLS (beside the system's). */
  upstreamCaFiles: z.array(z.string().min(1)).optional(),
  /** File of the 32-byte key that seals injected credentials in the store (made on first start); default `<dataDir>/egress/credential-key`. */
  credentialKeyFile: z.string().min(1).optional(),
}).strict()

/** The gateway's configuration: one schema for file, environment and flags. */
export const gatewayConfigSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65_535).default(8080),
  /** Database, API key file, workspaces (unless set apart). Relative paths are from the working directory. */
  dataDir: z.string().min(1).default('.infra-lab'),
  /** Users' workspaces; default `<dataDir>/workspaces`. */
  workspacesDir: z.string().min(1).optional(),
  /** Disk each user's workspace may fill (a loop-mounted image per user); 0 turns quotas off. */
  workspaceQuotaBytes: sizeBytesSchema(MIN_WORKSPACE_QUOTA_BYTES).default(DEFAULT_WORKSPACE_QUOTA_BYTES),
  /** Driver of the default pool (pools in a config file name their own). */
  driver: z.enum(DRIVER_NAMES).default('local'),
  /** API key for /v1; generated and stored in the data dir when absent. */
  apiKey: z.string().min(16, 'must be at least 16 characters').optional(),
  attachTokenTtlS: z.number().int().min(10).max(86_400).default(300),
  maxBodyBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(512 * 1024),
  wsMaxFrameBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
  maxUploadBytes: sizeBytesSchema(1).default(DEFAULT_MAX_UPLOAD_BYTES).refine((n) => n > 0, 'must be at least 1 byte'),
  logLevel: z.enum(LOG_LEVELS).default('info'),
  pools: z.array(z.record(z.string(), z.unknown())).default([]),
  /** The egress proxy of network pools (local and Docker drivers): per-session caps, resolver, trust. */
  egress: egressConfigSchema.default({ maxConnections: 256, bytesPerSec: 0 }),
  /** Sessions not ended one user may have at once, whichever key created them. */
  maxSessionsPerUser: z.number().int().min(1).max(100_000).default(10),
  /** The most a create's `timeoutS`/`idleTimeoutS` may ask for, and a keepalive extend a lifetime to (seconds or `7d`). */
  maxSessionTimeoutS: durationSSchema(60, 30 * 86_400).default(7 * 86_400),
  /** How long ended sessions keep their record before they are purged (seconds or `7d`). */
  retainEndedS: durationSSchema(0, 3650 * 86_400).default(7 * 86_400),
  /** Webhook URLs to loopback, link-local and private addresses are refused unless this is set. */
  allowPrivateWebhooks: z.boolean().default(false),
  /** SQLite in the data dir (default), or a PostgreSQL database shared by replicas; see config/store.ts. */
  store: storeConfigSchema.default({ poolSize: DEFAULT_STORE_POOL_SIZE }),
  /** This gateway's name among replicas (metrics' `replica` label, lease holder); default host-pid-random. */
  replicaId: replicaIdSchema.optional(),
  /**
   * With a shared (PostgreSQL) store: how often this replica renews the leases of the pools whose
   * controller it runs; a lease lapses after 3 periods without renewal, and a replica that could
   * not renew stops creating after 2.
   */
  leaseRenewMs: z.number().int().min(50).max(60_000).default(DEFAULT_LEASE_RENEW_MS),
  /** What `--driver ecs` needs (cluster, task definition, subnets, …); see config/ecs.ts. */
  ecs: ecsConfigSchema.optional(),
}).strict()

export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>
export type PoolSpecs = z.infer<typeof poolSpecSchema>[]
