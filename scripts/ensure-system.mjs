#!/usr/bin/env node
// Installs the Debian packages a command needs when they are missing, so `npm start` and
// `npm test` work on a fresh Debian/Ubuntu machine. Needs root and apt-get; otherwise it says
// what to install and carries on (the gateway then refuses with the same advice).
//   node scripts/ensure-system.mjs start   -> bubblewrap, util-linux, e2fsprogs, mount, libseccomp-dev, nftables, iproute2 (the sandbox drivers)
//   node scripts/ensure-system.mjs test    -> the same, procps, fio, chromium, docker.io, curl, postgresql
// scripts/test.mjs (`npm test`) imports ensureSystem instead of running this file.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SECCOMP_HEADER, buildSeccompFilter } from './build-seccomp.mjs'

// [a binary on PATH or an absolute file, the Debian package that has it]
// mkfs.ext4 and losetup: the per-user workspace images (--workspace-quota)
// nft and ip: each network sandbox's own namespace, its veth and the egress proxy's rules
const SANDBOX = [
  ['bwrap', 'bubblewrap'], ['setpriv', 'util-linux'], ['mkfs.ext4', 'e2fsprogs'], ['losetup', 'mount'], [SECCOMP_HEADER, 'libseccomp-dev'],
  ['nft', 'nftables'], ['ip', 'iproute2'],
]
const NEEDS = {
  start: SANDBOX,
  // ps: tests look for leftover processes; fio: the filesystem benchmark's reference; chromium:
  // the browser tests (never a downloaded browser); dockerd and docker: the Docker driver's tests
  // and `docker import` of the locally built sandbox image; initdb: the PostgreSQL store's tests
  // start a throwaway server of their own (packages/lab/src/bench/postgres-server.ts).
  test: [
    ...SANDBOX, ['ps', 'procps'], ['fio', 'fio'], ['chromium', 'chromium'], ['dockerd', 'docker.io'], ['docker', 'docker.io'], ['curl', 'curl'],
    ['initdb', 'postgresql'],
  ],
}

// The sbin directories too: dockerd, mkfs.ext4 and losetup live there, and a user's PATH often
// lacks them although the packages are installed.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin']
// Debian keeps the PostgreSQL server's programs (initdb, pg_ctl) off PATH, one directory per version.
const postgresBinDirs = () => {
  try {
    return readdirSync('/usr/lib/postgresql').map((v) => join('/usr/lib/postgresql', v, 'bin'))
  } catch {
    return []
  }
}
const which = (bin) => [...(process.env.PATH ?? '').split(':'), ...SBIN, ...postgresBinDirs()].some((d) => d && existsSync(join(d, bin)))
const present = (what) => (isAbsolute(what) ? existsSync(what) : which(what))

/** The Debian packages `purpose` needs that are not installed here (each once). */
export function missingPackages(purpose) {
  return [...new Set((NEEDS[purpose] ?? []).filter(([what]) => !present(what)).map(([, pkg]) => pkg))]
}

/**
 * Installs what `purpose` lacks when `install` is set and this is root with apt-get; otherwise
 * only says what to install. Returns the packages still missing afterwards.
 */
export function ensureSystem(purpose, { install = true } = {}) {
  const missing = missingPackages(purpose)
  if (missing.length === 0) return []
  const line = `apt-get install -y ${missing.join(' ')}`
  if (install && process.getuid?.() === 0 && which('apt-get')) {
    console.error(`infra-lab: installing ${missing.join(', ')} (${line}) …`)
    try {
      execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'] })
      execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      })
    } catch {
      console.error(`infra-lab: could not install them; run \`${line}\` as root`)
    }
    return missingPackages(purpose)
  }
  console.error(`infra-lab: missing ${missing.join(', ')}: run \`sudo ${line}\``)
  return missing
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const purpose = process.argv[2] ?? 'start'
  ensureSystem(purpose)
  // `npm start` does not build, and `npm ci` may have run before libseccomp-dev was here (`npm test`
  // builds anyway). A no-op when the filter is up to date.
  if (purpose === 'start') {
    try {
      buildSeccompFilter()
    } catch (err) {
      console.error(`infra-lab: could not build the seccomp filter (${err.message}); the sandbox drivers will refuse to start`)
    }
  }
}
