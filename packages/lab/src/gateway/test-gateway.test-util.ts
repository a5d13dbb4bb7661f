import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { Clock } from '../clock/clock.ts'
import { loadGatewayConfig } from '../config/load.ts'
import type { SandboxDriver } from '../drivers/types.ts'
import { startGateway, type StartedGateway } from './gateway.ts'

export const TEST_KEY = 'test-key-0123456789abcdef'

/**
 * A real gateway on 127.0.0.1:0 with a throw-away data dir and the given driver. With a manual
 * `clock`, time (the sweep of idle and lifetime limits, pool reconciles) moves only when the test
 * advances it.
 */
export async function startTestGateway(
  driver: SandboxDriver, fileConfig: Record<string, unknown> = {}, options: { readonly clock?: Clock } = {},
): Promise<StartedGateway & { cleanup(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'infra-lab-gw-'))
  const configFile = join(dataDir, 'config.json')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(configFile, JSON.stringify({ driver: driver.name, ...fileConfig }))
  const loaded = loadGatewayConfig({ config: configFile, dataDir, port: 0 }, { INFRA_LAB_API_KEY: TEST_KEY }, dataDir)
  if (!loaded.ok) throw new Error(loaded.errors.join('; '))
  const gw = await startGateway({ config: loaded.config, logger: pino({ level: 'silent' }), makeDriver: async () => driver, sweepIntervalMs: 100, ...options })
  return Object.assign(gw, {
    async cleanup() {
      await gw.stop()
      await driver.teardown()
      rmSync(dataDir, { recursive: true, force: true })
    },
  })
}

export const auth = { authorization: `Bearer ${TEST_KEY}` }

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
