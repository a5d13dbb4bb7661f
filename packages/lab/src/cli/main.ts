import { buildProgram } from './program.ts'
import type { ExitCode } from '../io.ts'

// The CLI entry: the only place that reads process.env and calls process.exit.
const controller = new AbortController()
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (controller.signal.aborted) process.exit(130)
    controller.abort()
  })
}

let exitCode: ExitCode | undefined
const program = buildProgram({ cwd: process.cwd(), env: process.env, stdout: process.stdout, stderr: process.stderr }, (code) => {
  exitCode = code
}, controller.signal)

program.exitOverride()
try {
  await program.parseAsync(process.argv)
} catch (err) {
  const e = err as { code?: string; exitCode?: number; message?: string }
  if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') exitCode = 0
  else if (e.exitCode !== undefined) exitCode = e.exitCode
  else {
    process.stderr.write(`infra-lab: ${e.message ?? String(err)}\n`)
    exitCode = 1
  }
}
process.exit(exitCode ?? 0)
