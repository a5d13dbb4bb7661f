#!/usr/bin/env node
// Installs the Debian packages a command needs when they are missing, so `npm start` and
// `npm test` work on a fresh Debian/Ubuntu machine. Needs root and apt-get; otherwise it says
// what to install and carries on (the gateway then refuses with the same advice).
//   node scripts/ensure-system.mjs start   -> bubblewrap, e2fsprogs, mount (the local sandbox driver)
//   node scripts/ensure-system.mjs test    -> the same, and fio, chromium
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const NEEDS = {
  // mkfs.ext4 and losetup: the per-user workspace images (--workspace-quota)
  start: [['bwrap', 'bubblewrap'], ['setpriv', 'util-linux'], ['mkfs.ext4', 'e2fsprogs'], ['losetup', 'mount']],
  test: [['bwrap', 'bubblewrap'], ['setpriv', 'util-linux'], ['mkfs.ext4', 'e2fsprogs'], ['losetup', 'mount'], ['fio', 'fio'], ['chromium', 'chromium']],
}

const which = (bin) => (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, bin)))
const purpose = process.argv[2] ?? 'start'
const missing = (NEEDS[purpose] ?? []).filter(([bin]) => !which(bin)).map(([, pkg]) => pkg)

if (missing.length > 0) {
  const line = `apt-get install -y ${missing.join(' ')}`
  if (process.getuid?.() === 0 && which('apt-get')) {
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
  } else {
    console.error(`infra-lab: missing ${missing.join(', ')}: run \`sudo ${line}\``)
  }
}
