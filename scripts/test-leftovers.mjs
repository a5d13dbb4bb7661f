// What a test run left on the machine: sandboxes (processes, containers), mounts, loop devices.
// Other runs may share the machine, so only what is provably this run's counts: anything under
// the run's own TMPDIR, and runtime dirs `/run/infra-lab/test-<name>-<pid>` made during the run
// by a process that has exited since (the test-support helpers name them after the worker pid).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
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

const testRuntimeDirs = () => (existsSync(RUNTIME_ROOT) ? readdirSync(RUNTIME_ROOT).filter((d) => /^test-.*-\d+$/.test(d)).map((d) => join(RUNTIME_ROOT, d)) : [])

/** Called before the run: the test runtime dirs that already exist belong to someone else. */
export function runtimeDirsBefore() {
  return new Set(testRuntimeDirs())
}

function mounts() {
  // mountinfo: id parent major:minor root mountpoint ...; octal escapes for spaces
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => {
    const f = l.split(' ')
    return { root: f[3], point: f[4] }
  })
}

function loopDevices() {
  if (!existsSync('/sys/block')) return []
  return readdirSync('/sys/block').filter((d) => d.startsWith('loop')).flatMap((d) => {
    try {
      return [{ dev: `/dev/${d}`, file: readFileSync(`/sys/block/${d}/loop/backing_file`, 'utf8').trim() }]
    } catch {
      return [] // not attached
    }
  })
}

function processes() {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid).flatMap((p) => {
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim()
      return cmd ? [{ pid: Number(p), cmd }] : []
    } catch {
      return []
    }
  })
}

async function containers() {
  const filters = encodeURIComponent(JSON.stringify({ label: ['org.infra-lab.sandbox'] }))
  const res = await engine('GET', `/containers/json?all=1&filters=${filters}`)
  if (res?.status !== 200) return []
  return JSON.parse(res.body).map((c) => ({ id: c.Id.slice(0, 12), name: (c.Names?.[0] ?? '').replace(/^\//, ''), runtime: c.Labels?.['org.infra-lab.runtime'] ?? '' }))
}

/**
 * Everything of this run still on the machine, one line each. `allContainers`: the daemon was
 * started for this run, so every sandbox container on it is this run's.
 */
export async function leftovers({ runTmp, before, allContainers }) {
  const ownDirs = testRuntimeDirs().filter((d) => !before.has(d) && !alive(Number(d.slice(d.lastIndexOf('-') + 1))))
  const ours = (path) => path.startsWith(`${runTmp}/`) || ownDirs.some((d) => path === d || path.startsWith(`${d}/`))
  const mentions = (text) => text.includes(`${runTmp}/`) || ownDirs.some((d) => text.includes(d))
  return [
    ...(await containers()).filter((c) => allContainers || ours(c.runtime)).map((c) => `container ${c.id} ${c.name}`),
    ...processes().filter((p) => mentions(p.cmd)).map((p) => `process ${p.pid}: ${p.cmd.slice(0, 160)}`),
    ...mounts().filter((m) => ours(m.point) || ours(m.root)).map((m) => `mount ${m.point}`),
    ...loopDevices().filter((l) => ours(l.file)).map((l) => `loop device ${l.dev} (${l.file})`),
    ...ownDirs.map((d) => `directory ${d}`),
  ]
}

/** True when nothing is mounted at or below `dir` (so removing it cannot reach into a mount). */
export function noMountsBelow(dir) {
  return !mounts().some((m) => m.point === dir || m.point.startsWith(`${dir}/`))
}
