import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { EcsConfig } from '../../config/ecs.ts'
import type { EcsDriverOptions } from './options.ts'

export const AGENT_KEY_FILE = 'ecs-agent-key'
const HEX_KEY_RE = /^([0-9a-f]{2}){32,}$/i

/** 64+ hex digits are bytes; any other string (a Secrets Manager password) is its UTF-8. */
export function agentKeyBytes(key: string): Buffer {
  return HEX_KEY_RE.test(key) ? Buffer.from(key, 'hex') : Buffer.from(key, 'utf8')
}

/**
 * The configured agent key, else the one stored in the data dir, else a new one (stored 0600).
 * Per-task keys derive from it, so it must survive a gateway restart for reconcile to reconnect.
 */
export function resolveAgentKey(dataDir: string, configured: string | undefined): { key: Buffer; source: 'config' | 'file' | 'generated' } {
  if (configured) return { key: agentKeyBytes(configured), source: 'config' }
  const file = join(dataDir, AGENT_KEY_FILE)
  if (existsSync(file)) {
    const stored = readFileSync(file, 'utf8').trim()
    if (HEX_KEY_RE.test(stored)) return { key: Buffer.from(stored, 'hex'), source: 'file' }
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const key = randomBytes(32)
  writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600 })
  return { key, source: 'generated' }
}

/** Driver options from the gateway config's `ecs` section (already validated and complete). */
export function ecsOptionsFromConfig(ecs: EcsConfig, agentKey: Buffer, logger: Logger): EcsDriverOptions {
  return {
    cluster: ecs.cluster ?? '',
    taskDefinition: ecs.taskDefinition ?? '',
    subnets: ecs.subnets ?? [],
    securityGroups: ecs.securityGroups ?? [],
    capacityProviderStrategy: ecs.capacityProviders ?? [],
    agentKey,
    logger,
    ...(ecs.region ? { region: ecs.region } : {}),
  }
}
