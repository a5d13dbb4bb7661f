#!/usr/bin/env node
// Measures the memory of idle warm sandboxes: starts N agents side by side (each with its warm
// bash), waits, and sums Pss from /proc/<pid>/smaps_rollup over every agent and its shell.
// usage: node packages/agent/bench/pss.mjs [--n 10] [--idle-ms 3000] [--bundle path/to/agent.mjs] -- [node flags...]
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const argv = process.argv.slice(2)
const sep = argv.indexOf('--')
const own = sep < 0 ? argv : argv.slice(0, sep)
const nodeFlags = sep < 0 ? [] : argv.slice(sep + 1)
const str = (name, dflt) => (own.includes(name) ? own[own.indexOf(name) + 1] : dflt)
const opt = (name, dflt) => Number(str(name, dflt))
// Another bundle (e.g. a copy of an older build) to compare against; default: the current build.
const bundle = resolve(str('--bundle', join(dirname(fileURLToPath(import.meta.url)), '../dist/agent.mjs')))
const n = opt('--n', 10)
const idleMs = opt('--idle-ms', 3000)

const kb = (pid, field) => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))
  return m ? Number(m[1]) : 0
}
const children = (pid) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)

const dir = mkdtempSync(join(tmpdir(), 'agent-pss-'))
const agents = []
try {
  for (let i = 0; i < n; i++) {
    const child = spawn(process.execPath, [...nodeFlags, bundle, '--socket', join(dir, `${i}.sock`), '--sandbox-id', `pss-${i}`, '--state-dir', join(dir, `state-${i}`)], {
      cwd: '/', env: { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', TERM: 'xterm-256color' }, stdio: ['ignore', 'ignore', 'ignore'],
    })
    agents.push(child)
  }
  const deadline = Date.now() + 10_000
  while (agents.some((_, i) => !existsSync(join(dir, `${i}.sock`))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  await new Promise((r) => setTimeout(r, idleMs))
  let agentPss = 0, shellPss = 0, agentRss = 0
  for (const a of agents) {
    agentPss += kb(a.pid, 'Pss')
    agentRss += kb(a.pid, 'Rss')
    for (const c of children(a.pid)) shellPss += kb(c, 'Pss')
  }
  const f = (x) => (x / n / 1024).toFixed(2)
  console.log(JSON.stringify({
    bundle, flags: nodeFlags.join(' ') || '(none)', n,
    pssPerSandboxMiB: Number(f(agentPss + shellPss)), agentPssMiB: Number(f(agentPss)), bashPssMiB: Number(f(shellPss)), agentRssMiB: Number(f(agentRss)),
  }))
} finally {
  for (const a of agents) {
    for (const c of (() => { try { return children(a.pid) } catch { return [] } })()) { try { process.kill(-c, 'SIGKILL') } catch { /* gone */ } }
    a.kill('SIGKILL')
  }
  rmSync(dir, { recursive: true, force: true })
}
