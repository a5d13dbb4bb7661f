// The Docker daemon and the sandbox image for `npm test` (scripts/test.mjs): a daemon is started
// only when none answers, and then stopped again by whoever started it.
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { openSync, readFileSync } from 'node:fs'
import { request } from 'node:http'

export const DOCKER_SOCKET = '/var/run/docker.sock'
export const SANDBOX_IMAGE = 'infra-lab/sandbox:local'
export const DOCKERD_LOG = '/tmp/infra-lab-dockerd.log'
// No bridge: sandboxes get --network none (a pool that allows a network is not tested here).
// No iptables: the daemon leaves the host's firewall alone.
export const DOCKERD_ARGS = ['--bridge=none', '--iptables=false']

/** One Engine API call on the unix socket: { status, body } or undefined when nothing answers. */
export function engine(method, path, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const req = request({ socketPath: DOCKER_SOCKET, method, path: `/v1.41${path}`, timeout: timeoutMs }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', () => resolve(undefined))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

export async function dockerAnswers() {
  return (await engine('GET', '/_ping', 2000))?.status === 200
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * Starts `dockerd --bridge=none --iptables=false` in its own process group (a Ctrl-C in the
 * terminal reaches the tests, not the daemon, so it can be stopped in order afterwards) and waits
 * until it answers. Returns its pid, or undefined with the reason printed.
 */
export async function startDockerd(log) {
  const out = openSync(DOCKERD_LOG, 'a')
  const child = spawn('dockerd', DOCKERD_ARGS, { detached: true, stdio: ['ignore', out, out] })
  let exited = false
  child.on('exit', () => { exited = true })
  child.on('error', () => { exited = true })
  child.unref()
  for (let i = 0; i < 120 && !exited; i++) {
    if (await dockerAnswers()) {
      log(`started dockerd ${DOCKERD_ARGS.join(' ')} (pid ${child.pid}, log ${DOCKERD_LOG}); it is stopped after the tests`)
      return child.pid
    }
    await sleep(500)
  }
  const tail = readFileSync(DOCKERD_LOG, 'utf8').split('\n').slice(-15).join('\n')
  log(`dockerd did not start (the Docker suites will be skipped); the end of ${DOCKERD_LOG}:\n${tail}`)
  if (!exited && child.pid) await stopDockerd(child.pid, log)
  return undefined
}

const alive = (pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** SIGTERM, then up to 60 s for dockerd to stop its containers and exit, then SIGKILL. */
export async function stopDockerd(pid, log) {
  if (!alive(pid)) return
  process.kill(pid, 'SIGTERM')
  for (let i = 0; i < 600 && alive(pid); i++) await sleep(100)
  if (alive(pid)) {
    log(`dockerd (pid ${pid}) did not stop within 60 s; killing it`)
    process.kill(pid, 'SIGKILL')
    for (let i = 0; i < 50 && alive(pid); i++) await sleep(100)
  }
  log(`stopped dockerd (pid ${pid})`)
}

/**
 * Builds the sandbox image (`npm run image:local`) unless the daemon already has one carrying
 * this checkout's agent bundle (the label build-local-image.mjs sets). True when it is there.
 */
export async function ensureSandboxImage(agentBundle, log) {
  const want = createHash('sha256').update(readFileSync(agentBundle)).digest('hex')
  const res = await engine('GET', `/images/${encodeURIComponent(SANDBOX_IMAGE)}/json`)
  const labels = res?.status === 200 ? JSON.parse(res.body).Config?.Labels : undefined
  if (labels?.['org.infra-lab.agent-sha256'] === want) return true
  log(`building ${SANDBOX_IMAGE} (npm run image:local) …`)
  const npm = process.env.npm_execpath
  const r = npm
    ? spawnSync(process.execPath, [npm, 'run', '-s', 'image:local'], { stdio: 'inherit' })
    : spawnSync('npm', ['run', '-s', 'image:local'], { stdio: 'inherit' })
  if (r.status !== 0) log('npm run image:local failed; the Docker suites build the image themselves')
  return r.status === 0
}
