#!/usr/bin/env node
// Builds the sandbox image from this machine's files only (no registry, no base image):
// node, bash and common tools with the shared libraries they load, the agent bundle and
// node-pty, assembled into a root filesystem and loaded with `docker import`.
// Usage: node docker/build-local-image.mjs [--tag infra-lab/sandbox:local] [--uid 100000]
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, copyFileSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({ options: { tag: { type: 'string', default: 'infra-lab/sandbox:local' }, uid: { type: 'string', default: '100000' } } })
const uid = Number(values.uid)
if (!Number.isInteger(uid) || uid < 1) throw new Error('--uid must be a positive integer (never root)')

/** What a user's shell finds on PATH, besides bash. Missing ones are skipped with a note. */
const TOOLS = [
  'bash', 'sh', 'env', 'cat', 'ls', 'cp', 'mv', 'rm', 'ln', 'mkdir', 'rmdir', 'touch', 'chmod', 'mkfifo', 'id', 'whoami',
  'echo', 'printf', 'head', 'tail', 'wc', 'sort', 'uniq', 'cut', 'tr', 'tee', 'du', 'df', 'date', 'sleep', 'stat', 'readlink',
  'realpath', 'basename', 'dirname', 'uname', 'hostname', 'true', 'false', 'test', 'seq', 'yes', 'md5sum', 'sha256sum',
  'grep', 'sed', 'find', 'xargs', 'diff', 'less', 'ps', 'kill', 'mount', 'umount', 'tar', 'gzip',
  // curl and getent: what a network pool's users reach for first (and the egress tests use)
  'curl', 'getent', 'timeout',
  // setpriv: the agent's --workspaces-root mode (ECS) drops to the user's uid with it
  'setpriv',
]

const agentDist = join(root, 'packages/agent/dist/agent.mjs')
// The agent's exec helper, built beside the bundle; the bundle names its hash, so the image
// label below (the bundle's hash) changes with it too.
const helperDist = join(root, 'packages/agent/dist/lab-exec')
for (const f of [agentDist, helperDist]) if (!existsSync(f)) throw new Error(`${f} is missing: run \`npm run build\` first`)
// The agent it carries: tests rebuild the image when the bundle changed.
const agentSha256 = createHash('sha256').update(readFileSync(agentDist)).digest('hex')
// And the recipe: a change to what goes in (TOOLS) rebuilds too.
const recipeSha256 = createHash('sha256').update(readFileSync(fileURLToPath(import.meta.url))).digest('hex')
const ptyDir = dirname(createRequire(join(root, 'packages/agent/package.json')).resolve('node-pty/package.json'))

const fs = mkdtempSync(join(tmpdir(), 'ilab-image-'))
try {
  for (const d of ['usr/bin', 'usr/lib', 'usr/lib64', 'usr/sbin', 'etc', 'tmp', 'slot', 'home', 'run/agent', 'opt/infra-lab', 'proc', 'sys', 'dev']) {
    mkdirSync(join(fs, d), { recursive: true, mode: 0o755 })
  }
  chmodSync(join(fs, 'tmp'), 0o1777)
  // Merged /usr, as on this host: /bin, /lib, /lib64 and /sbin are links.
  for (const d of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${d}`, join(fs, d))
  symlinkSync('/slot/home', join(fs, 'home/user'))

  const elves = [process.execPath]
  copyPath(process.execPath, '/usr/bin/node')
  for (const t of TOOLS) {
    const p = which(t)
    if (!p) {
      console.log(`image: ${t} not found on this host, left out`)
      continue
    }
    copyPath(p, join('/usr/bin', t))
    elves.push(p)
  }

  // The agent: bundle, its exec helper, and node-pty (lib/ and the native parts) beside it.
  copyFileSync(agentDist, join(fs, 'opt/infra-lab/agent.mjs'))
  copyFileSync(helperDist, join(fs, 'opt/infra-lab/lab-exec'))
  chmodSync(join(fs, 'opt/infra-lab/lab-exec'), 0o755) // static: no shared libraries to bring
  const ptyOut = join(fs, 'opt/infra-lab/node_modules/node-pty')
  mkdirSync(join(ptyOut, 'build'), { recursive: true })
  copyFileSync(join(ptyDir, 'package.json'), join(ptyOut, 'package.json'))
  cpSync(join(ptyDir, 'lib'), join(ptyOut, 'lib'), { recursive: true, filter: (s) => !s.endsWith('.test.js') && !s.endsWith('.map') })
  cpSync(join(ptyDir, 'build/Release'), join(ptyOut, 'build/Release'), { recursive: true, filter: (s) => !s.includes('/obj.target') && !s.endsWith('.d') })
  elves.push(join(ptyDir, 'build/Release/pty.node'))

  // Every shared library any of them loads, at its path on this host.
  const libs = new Set()
  for (const e of elves) for (const l of sharedLibs(e)) libs.add(l)
  for (const l of libs) copyPath(l, l)

  writeFileSync(join(fs, 'etc/passwd'), `root:x:0:0:root:/root:/usr/sbin/nologin\nuser:x:${uid}:${uid}::/home/user:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`)
  writeFileSync(join(fs, 'etc/group'), `root:x:0:\nuser:x:${uid}:\nnogroup:x:65534:\n`)
  writeFileSync(join(fs, 'etc/hostname'), 'sandbox\n')
  // dns after files: a network pool's names are the egress proxy's to answer (its resolv.conf points there)
  writeFileSync(join(fs, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n')
  writeFileSync(join(fs, 'etc/hosts'), '127.0.0.1 localhost\n')

  const tar = join(tmpdir(), `ilab-image-${process.pid}.tar`)
  try {
    execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', fs, '-cf', tar, '.'])
    const changes = [
      `USER ${uid}:${uid}`, 'WORKDIR /', 'ENV PATH=/usr/bin:/bin', 'ENV LANG=C.UTF-8',
      'ENTRYPOINT ["/usr/bin/node", "/opt/infra-lab/agent.mjs"]', 'LABEL org.infra-lab.image=local', `LABEL org.infra-lab.agent-sha256=${agentSha256}`, `LABEL org.infra-lab.recipe-sha256=${recipeSha256}`,
    ].flatMap((c) => ['--change', c])
    const id = execFileSync('docker', ['import', ...changes, tar, values.tag], { encoding: 'utf8' }).trim()
    console.log(`image: ${values.tag} (${id}), ${libs.size} shared libraries, agent ${agentDist}`)
  } finally {
    rmSync(tar, { force: true })
  }
} finally {
  rmSync(fs, { recursive: true, force: true })
}

/** Copies a host file into the image at `to`, recreating symlinks along the way (e.g. sh -> dash). */
function copyPath(from, to) {
  const dst = join(fs, to)
  if (existsSync(dst) || isLink(dst)) return
  mkdirSync(dirname(dst), { recursive: true })
  const st = lstatSync(from)
  if (st.isSymbolicLink()) {
    const target = readlinkSync(from)
    symlinkSync(target, dst)
    const real = realpathSync(from)
    copyPath(real, real.replace(/^\/(bin|lib|lib64|sbin)\//, '/usr/$1/'))
  } else {
    copyFileSync(from, dst)
    chmodSync(dst, st.mode & 0o755)
  }
}

function isLink(p) {
  try {
    return lstatSync(p).isSymbolicLink()
  } catch {
    return false
  }
}

function which(name) {
  for (const d of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) if (existsSync(join(d, name))) return join(d, name).replace(/^\/(bin|sbin)\//, '/usr/$1/')
  return undefined
}

/** Absolute paths of the shared libraries `elf` loads (ldd), the dynamic loader included. */
function sharedLibs(elf) {
  let out
  try {
    out = execFileSync('ldd', [elf], { encoding: 'utf8' })
  } catch {
    return [] // statically linked or a script
  }
  const paths = []
  for (const m of out.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)) paths.push(m[1].replace(/^\/(lib|lib64)\//, '/usr/$1/'))
  return paths
}
