import { destination, pino, type Logger } from 'pino'
import { loadGatewayConfig, type GatewayFlags } from '../../config/load.ts'
import { formatSizeBytes } from '../../config/size.ts'
import { startGateway } from '../../gateway/gateway.ts'
import { egressOptionsForTeardown, teardownEgress } from '../../gateway/egress-setup.ts'
import { LEASE_TTL_RENEWALS, poolLeaseName } from '../../pool/lease.ts'
import { SandboxTeardown } from '../../pool/teardown.ts'
import { describeStore, openStore } from '../../store/open.ts'
import { driverFactory } from '../drivers.ts'
import type { CliIo, ExitCode } from '../../io.ts'
import { join } from 'node:path'
import { mkdirSync } from 'node:fs'

export interface GatewayCommandFlags extends GatewayFlags {
  readonly teardown?: boolean
}

/** `infra-lab gateway`: serves the API with warm pools until SIGTERM/SIGINT. */
export async function gatewayCommand(flags: GatewayCommandFlags, io: CliIo, signal: AbortSignal): Promise<ExitCode> {
  const loaded = loadGatewayConfig(flags, io.env, io.cwd)
  if (!loaded.ok) {
    io.stderr.write(`infra-lab gateway: invalid configuration:\n${loaded.errors.map((e) => `  - ${e}`).join('\n')}\n`)
    return 2
  }
  const { config, warnings } = loaded
  const logger = pino({ level: config.logLevel, base: undefined }, destination({ fd: 2, sync: false }))
  for (const w of warnings) logger.warn(w)
  const makeDriver = driverFactory(config, logger)

  if (flags.teardown) return teardown(config, makeDriver, io, logger)

  let gw
  try {
    gw = await startGateway({ config, logger, makeDriver })
  } catch (err) {
    io.stderr.write(`infra-lab gateway: cannot start: ${(err as Error).message}\n`)
    logger.flush()
    return 1
  }
  const poolLines = [...gw.pools.values()].map((p) => `  pool ${p.spec.name}: driver ${p.spec.driver}, policy ${JSON.stringify(p.spec.policy)}`)
  const keyLine = gw.apiKeySource === 'config' ? '(from INFRA_LAB_API_KEY / config)' : `${gw.apiKey}   (${gw.apiKeySource === 'generated' ? 'generated, ' : ''}stored in ${join(config.dataDir, 'api-key')})`
  io.stdout.write([
    `infra-lab gateway listening on ${gw.url}`,
    `  browser: ${gw.url}/  (sign in with the API key)`,
    `  API key: ${keyLine}`,
    ...poolLines,
    `  store: ${describeStore(config.dataDir, config.store)}`,
    `  workspaces: ${config.workspacesDir} (${config.workspaceQuotaBytes > 0 ? `quota ${formatSizeBytes(config.workspaceQuotaBytes)} per user` : 'no quota'})`,
    `  try:     npx infra-lab shell --user alice --url ${gw.url}`,
    '',
  ].join('\n'))

  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve()
    else signal.addEventListener('abort', () => resolve(), { once: true })
  })
  io.stdout.write('infra-lab gateway: shutting down (running shells keep running; restart resumes them)\n')
  await gw.stop()
  logger.flush()
  return 0
}

async function teardown(config: Parameters<typeof driverFactory>[0], makeDriver: ReturnType<typeof driverFactory>, io: CliIo, logger: Logger): Promise<ExitCode> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  let store
  try {
    store = await openStore(config.dataDir, config.store)
    // On a shared store a teardown would end every replica's sessions and destroy their
    // sandboxes: while any replica holds a pool's lease (it is running), refuse.
    if (config.store.url !== undefined) {
      const now = Date.now()
      for (const p of config.pools) {
        const lease = await store.getLease(poolLeaseName(p.name))
        if (lease && lease.expiresAt > now) {
          io.stderr.write(`infra-lab gateway --teardown: refused: replica ${lease.holder} holds lease ${lease.name} on this shared store, so it is running; `
            + 'a teardown would end every replica\'s sessions and destroy their sandboxes. Stop every replica first '
            + `(a replica that died keeps its lease for ${LEASE_TTL_RENEWALS} renewal periods, ${Math.ceil(LEASE_TTL_RENEWALS * config.leaseRenewMs)} ms here; then try again)\n`)
          return 1
        }
      }
    }
    const names = [...new Set(config.pools.map((p) => p.driver))]
    let ended = 0
    for (const s of await store.listSessions()) {
      if (s.state !== 'ended' && (await store.endSession(s.id, 'gateway_teardown', Date.now()))) ended++
    }
    // The names of network sandboxes' links and Docker network come from the gateway's egress tag.
    const egress = egressOptionsForTeardown(config.dataDir)
    const poolDriver = new Map(config.pools.map((p) => [p.name, p.driver]))
    const rows = await store.listSandboxes()
    for (const name of names) {
      const driver = await makeDriver(name, egress ? { egress } : {})
      const sandboxes = new SandboxTeardown({ store, driver, logger })
      const found = await driver.list()
      // Every sandbox the driver runs, and every row of its pools (a sandbox it no longer lists is destroyed idempotently).
      const mine = rows.filter((r) => (r.handle?.driver ?? poolDriver.get(r.pool)) === name).map((r) => r.id)
      for (const id of new Set([...found.map((h) => h.id), ...mine])) await sandboxes.destroy(id, 'gateway_teardown')
      // What no single sandbox's destroy removes: the runtime's mounts and directories.
      await driver.teardown()
      io.stdout.write(`infra-lab gateway --teardown: driver ${name}: removed ${found.length} sandbox(es) and every mount and directory it made\n`)
    }
    await teardownEgress(config.dataDir)
    io.stdout.write(`infra-lab gateway --teardown: ended ${ended} session(s)\n`)
    return 0
  } catch (err) {
    io.stderr.write(`infra-lab gateway --teardown: ${(err as Error).message}\n`)
    return 1
  } finally {
    await store?.close()
  }
}

