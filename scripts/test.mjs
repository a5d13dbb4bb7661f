#!/usr/bin/env node
// `npm test [-- vitest args]`: the one place that sets a machine up for the test suite.
// As root (unless INFRA_LAB_TEST_SETUP=0): installs the Debian packages the suites need, starts
// `dockerd --bridge=none --iptables=false` when no daemon answers and stops it afterwards (also
// when tests fail or the run is interrupted), builds the sandbox image when it is missing or
// stale. Then, as anyone: builds the bundles, runs vitest, and checks that the run left no
// sandbox, container, mount or loop device behind (a leak fails the run; either way, and after an
// interrupted run too, what the run left is removed). Without the set-up, suites that cannot run
// here are skipped and listed with their reasons at the end (scripts/skip-summary-reporter.mjs).
import { spawn } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { constants, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureSystem } from './ensure-system.mjs'
import { dockerAnswers, ensureSandboxImage, startDockerd, stopDockerd } from './test-docker.mjs'
import { leftovers, noMountsBelow, removeLeftovers, runtimeDirsBefore } from './test-leftovers.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const log = (s) => console.error(`infra-lab test: ${s}`)

const isRoot = process.getuid?.() === 0
const optedOut = process.env.INFRA_LAB_TEST_SETUP === '0'
const setUp = isRoot && !optedOut

let interrupted
let child
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    interrupted ??= signal
    // A Ctrl-C reaches the whole process group (vitest too); a supervisor's SIGTERM only this one.
    if (child && child.exitCode === null && child.signalCode === null) child.kill(signal)
  })
}
const interruptedCode = () => 128 + constants.signals[interrupted]

/** Runs a step in the foreground; resolves with its exit code (128 + signal number if killed). */
function run(cmd, args, env = process.env) {
  return new Promise((resolve) => {
    child = spawn(cmd, args, { stdio: 'inherit', env })
    child.on('error', (err) => {
      log(`${cmd}: ${err.message}`)
      resolve(127)
    })
    child.on('exit', (code, signal) => resolve(code ?? 128 + constants.signals[signal]))
  })
}

async function main() {
  if (!setUp) {
    log(`${optedOut ? 'INFRA_LAB_TEST_SETUP=0' : 'not root'}: no set-up (packages, Docker daemon, sandbox image); `
      + 'suites that cannot run here are skipped, each with its reason at the end')
  }
  ensureSystem('test', { install: setUp })
  const built = await run(process.execPath, [join(root, 'scripts/build.mjs')])
  if (interrupted) return interruptedCode()
  if (built !== 0) return built

  let dockerd
  try {
    if (setUp && !(await dockerAnswers())) dockerd = await startDockerd(log)
    if (setUp && !interrupted && (await dockerAnswers())) await ensureSandboxImage(join(root, 'packages/agent/dist/agent.mjs'), log)
    if (interrupted) return interruptedCode()

    // Everything the suites make on disk goes below a directory of this run, so what is left
    // afterwards can be told apart from other runs on the same machine. 1777 like /tmp.
    const runTmp = mkdtempSync(join(tmpdir(), 'ilab-test-'))
    chmodSync(runTmp, 0o1777)
    const before = runtimeDirsBefore()
    let code = await run(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', ...process.argv.slice(2)], { ...process.env, TMPDIR: runTmp })
    const scope = { runTmp, before, allContainers: dockerd !== undefined }
    const left = await leftovers(scope)
    if (left.length > 0) {
      // A leak fails the run (when it was not interrupted anyway), and is cleaned up all the same.
      log(`the run left ${left.length} thing(s) behind${interrupted ? ' (interrupted: its afterAll hooks did not run)' : ''}; removing them:\n  ${left.map((l) => l.text).join('\n  ')}`)
      if (code === 0) code = 1
      // A loop device is freed only once its lazily unmounted file system lets go: a few tries.
      let still = left
      for (let i = 0; i < 10 && still.length > 0; i++) {
        await removeLeftovers(still)
        await new Promise((r) => setTimeout(r, i === 0 ? 0 : 500))
        still = await leftovers(scope, { settle: false })
      }
      if (still.length > 0) log(`could not remove:\n  ${still.map((l) => l.text).join('\n  ')}`)
    }
    if (noMountsBelow(runTmp)) rmSync(runTmp, { recursive: true, force: true })
    return interrupted ? interruptedCode() : code
  } finally {
    if (dockerd) await stopDockerd(dockerd, log)
  }
}

process.exitCode = await main()
