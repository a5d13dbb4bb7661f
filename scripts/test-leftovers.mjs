// What a test run left on the machine: sandboxes (processes, containers), mounts, loop devices,
// runtime directories; and their removal. Other runs may share the machine, so only what is
// provably this run's counts: anything under the run's own TMPDIR, runtime dirs
// `/run/infra-lab/test-<name>-<pid>` made during the run by a process that has exited since (the
// test-support helpers name them after the worker pid), and `/run/infra-lab/<hash>` runtime dirs
// of data dirs under the run's TMPDIR (drivers name them after sha256 of the data dir).
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { engine } from './test-docker.mjs'

const RUNTIME_ROOT = '/run/infra-lab'

const alive = (pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return err.code === 'EPERM'
  }
}

const ls = (dir) => {
  try {
    return readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
}
const testRuntimeDirs = () => ls(RUNTIME_ROOT).filter((e) => /^test-.*-\d+$/.test(e.name)).map((e) => join(RUNTIME_ROOT, e.name))

/** Called before the run: the test runtime dirs that already exist belong to someone else. */
export function runtimeDirsBefore() {
  return new Set(testRuntimeDirs())
}

/** Runtime dirs of data dirs in the run's TMPDIR (two levels: `<tmp>/x` and `<tmp>/x/data`). */
function hashedRuntimeDirs(runTmp) {
  const dirs = ls(runTmp).filter((e) => e.isDirectory()).flatMap((e) => {
    const d = join(runTmp, e.name)
    return [d, ...ls(d).filter((x) => x.isDirectory()).map((x) => join(d, x.name))]
  })
  return dirs.map((d) => join(RUNTIME_ROOT, createHash('sha256').update(d).digest('hex').slice(0, 12))).filter((d) => existsSync(d))
}

function mounts() {
  // mountinfo: id parent major:minor root mountpoint ...
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => {
    const f = l.split(' ')
    return { root: f[3], point: f[4] }
  })
}

function loopDevices() {
  return ls('/sys/block').filter((e) => e.name.startsWith('loop')).flatMap((e) => {
    try {
      return [{ dev: `/dev/${e.name}`, file: readFileSync(`/sys/block/${e.name}/loop/backing_file`, 'utf8').trim() }]
    } catch {
      return [] // not attached
    }
  })
}

function processes() {
  return ls('/proc').filter((e) => /^\d+$/.test(e.name) && Number(e.name) !== process.pid).flatMap((e) => {
    try {
      const cmd = readFileSync(`/proc/${e.name}/cmdline`, 'utf8').split('\0').join(' ').trim()
      return cmd ? [{ pid: Number(e.name), cmd }] : []
    } catch {
      return []
    }
  })
}

async function containers() {
  const filters = encodeURIComponent(JSON.stringify({ label: ['org.infra-lab.sandbox'] }))
  const res = await engine('GET', `/containers/json?all=1&filters=${filters}`)
  if (res?.status !== 200) return []
  return JSON.parse(res.body).map((c) => ({ id: c.Id, name: (c.Names?.[0] ?? '').replace(/^\//, ''), runtime: c.Labels?.['org.infra-lab.runtime'] ?? '' }))
}

/**
 * Everything of this run still on the machine: `{ kind, what, text }`, one each. `allContainers`:
 * the daemon was started for this run, so every sandbox container on it is this run's.
 */
export async function leftovers({ runTmp, before, allContainers }, { settle = true } = {}) {
  const pidOf = (d) => Number(d.slice(d.lastIndexOf('-') + 1))
  const fresh = testRuntimeDirs().filter((d) => !before.has(d))
  // An interrupted vitest exits before its workers do: give them a few seconds to go. A pid
  // that lives on belongs to another run on this machine.
  for (let i = 0; settle && i < 50 && fresh.some((d) => alive(pidOf(d))); i++) await new Promise((r) => setTimeout(r, 200))
  const ownDirs = [...fresh.filter((d) => !alive(pidOf(d))), ...hashedRuntimeDirs(runTmp)]
  const ours = (path) => path.startsWith(`${runTmp}/`) || ownDirs.some((d) => path === d || path.startsWith(`${d}/`))
  const mentions = (text) => text.includes(`${runTmp}/`) || ownDirs.some((d) => text.includes(d))
  return [
    ...(await containers()).filter((c) => allContainers || ours(c.runtime)).map((c) => ({ kind: 'container', what: c.id, text: `container ${c.id.slice(0, 12)} ${c.name}` })),
    ...processes().filter((p) => mentions(p.cmd)).map((p) => ({ kind: 'process', what: p.pid, text: `process ${p.pid}: ${p.cmd.slice(0, 160)}` })),
    ...mounts().filter((m) => ours(m.point) || ours(m.root)).map((m) => ({ kind: 'mount', what: m.point, text: `mount ${m.point}` })),
    ...loopDevices().filter((l) => ours(l.file)).map((l) => ({ kind: 'loop', what: l.dev, text: `loop device ${l.dev} (${l.file})` })),
    ...ownDirs.map((d) => ({ kind: 'directory', what: d, text: `directory ${d}` })),
  ]
}

/** True when nothing is mounted at or below `dir` (so removing it cannot reach into a mount). */
export function noMountsBelow(dir) {
  return !mounts().some((m) => m.point === dir || m.point.startsWith(`${dir}/`))
}

const quiet = (cmd, args) => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
  } catch {
    // already gone, or not ours to remove: the check after this says what is left
  }
}

/**
 * Removes what `leftovers` found, so an interrupted run (its afterAll hooks never ran) leaves
 * nothing behind either: containers, sandbox processes, mounts (deepest first), loop devices,
 * then the directories once nothing is mounted below them.
 */
export async function removeLeftovers(items) {
  const of = (kind) => items.filter((i) => i.kind === kind).map((i) => i.what)
  for (const id of of('container')) await engine('DELETE', `/containers/${id}?force=1&v=1`, 30_000)
  for (const pid of of('process')) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // exited meanwhile
    }
  }
  for (const point of of('mount').sort((a, b) => b.length - a.length)) quiet('umount', ['-l', point])
  for (const dev of of('loop')) quiet('losetup', ['-d', dev])
  for (const dir of of('directory')) if (noMountsBelow(dir)) rmSync(dir, { recursive: true, force: true })
}
