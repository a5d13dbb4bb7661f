import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pkg from '../package.json' with { type: 'json' }
import { log } from './log.ts'
import { warmUpExecPath } from './ops/exec-warm-up.ts'
import { localEndpoint } from './ops/ops-endpoint.ts'
import { OpsServer } from './ops/ops-server.ts'
import { UserWorkerRelay } from './ops/user-worker.ts'
import { runOpsWorker } from './ops/worker-main.ts'
import { parseOptions } from './options.ts'
import { PtySession, warmShellEnv } from './pty-session.ts'
import { Scrollback } from './scrollback.ts'
import { AgentServer } from './server.ts'
import { prepareStateDir } from './state-dir.ts'
import { startTlsBridge, takePsk } from './tls-bridge.ts'
import { warmUpClaimPath } from './warm-up.ts'

async function main(): Promise<number | undefined> {
  const parsed = parseOptions(process.argv.slice(2))
  if ('errors' in parsed) {
    process.stderr.write(`${parsed.errors.join('\n')}\n`)
    return 2
  }
  const { options } = parsed
  // The bundle's own path: the exec helper ships beside it, and a user worker runs it again.
  const bundle = fileURLToPath(import.meta.url)
  const helperPath = options.execHelper ?? join(dirname(bundle), 'lab-exec')
  if (options.opsWorker) {
    runOpsWorker({ helperPath, shellPath: options.shellPath })
    return undefined
  }
  // Before anything is spawned: the shell must never inherit the per-task key.
  const psk = takePsk(process.env)
  if (options.tlsPort !== undefined && psk === undefined) {
    process.stderr.write('--tls-port needs the per-task key in AGENT_TLS_PSK\n')
    return 2
  }
  const files = prepareStateDir(options.stateDir, options.workspacesRoot !== undefined)
  const session = new PtySession(files, options.shellPath, process.env)
  const scrollback = new Scrollback(options.scrollbackBytes)
  const exec = { helperPath, shellPath: options.shellPath, baseEnv: warmShellEnv(process.env) }
  const ops = options.workspacesRoot
    ? new UserWorkerRelay({ ...exec, entry: [process.execPath, ...process.execArgv, bundle] })
    : localEndpoint(new OpsServer(exec))
  const server = new AgentServer(
    {
      socketPath: options.socketPath, sandboxId: options.sandboxId, agentVersion: pkg.version,
      ...(options.workspacesRoot ? { workspaces: { root: options.workspacesRoot, shellPath: options.shellPath } } : {}),
    },
    session,
    scrollback,
    ops,
  )
  const stop = (signal: NodeJS.Signals) => {
    log('agent_stop', { signal })
    session.kill()
    server.close()
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  // The socket (and so the hello) appears only once the shell waits for a claim and the claim
  // path is warm: a sandbox is ready when a claim sent the instant it is announced succeeds.
  // A root agent's execs run in a user worker started at claim time: nothing here to warm.
  const warmExec = options.workspacesRoot ? undefined : warmUpExecPath(exec)
  await Promise.all([session.whenWaiting(), warmUpClaimPath(files.scratchFifoPath), warmExec])
  await server.listen()
  if (options.tlsPort !== undefined) {
    await startTlsBridge({ host: options.tlsHost, port: options.tlsPort, socketPath: options.socketPath, identity: options.sandboxId, psk: psk! })
  }
  log('agent_ready', { sandboxId: options.sandboxId, pid: process.pid, shellPid: session.pid })
  return undefined
}

main().then(
  (code) => {
    if (code !== undefined) process.exit(code)
  },
  (err: unknown) => {
    log('agent_failed', { message: err instanceof Error ? err.message : String(err) })
    process.exit(1)
  },
)
