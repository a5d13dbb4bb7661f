#!/usr/bin/env node
// Builds the sandboxes' seccomp filter: packages/lab/native/seccomp_filter.c, linked with
// libseccomp, writes the BPF program (local driver, `bwrap --seccomp`) and the same rules as a
// Docker profile into packages/lab/native/build/. Run by build.mjs, and by ensure-system.mjs
// right after it installed libseccomp-dev. Without libseccomp's header it says what to install
// and returns false: the simulator, ECS and the web app need none of it, and the local and
// Docker drivers refuse to start until the filter exists.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const SECCOMP_HEADER = '/usr/include/seccomp.h'
const nativeDir = join(dirname(fileURLToPath(import.meta.url)), '../packages/lab/native')
const source = join(nativeDir, 'seccomp_filter.c')
export const SECCOMP_OUTPUTS = ['build/seccomp.bpf', 'build/seccomp.json'].map((p) => join(nativeDir, p))

/** Builds the filter when an output is missing or older than its source; true when it is there. */
export function buildSeccompFilter() {
  const stale = (out) => !existsSync(out) || statSync(out).mtimeMs < statSync(source).mtimeMs
  if (!SECCOMP_OUTPUTS.some(stale)) return true
  if (!existsSync(SECCOMP_HEADER)) {
    console.error(`build: libseccomp-dev is missing (${SECCOMP_HEADER}): run \`sudo apt-get install libseccomp-dev\` and build again; `
      + 'until then the local and Docker sandbox drivers refuse to start')
    return false
  }
  const gen = join(nativeDir, 'build/seccomp-gen')
  mkdirSync(dirname(gen), { recursive: true })
  execFileSync(process.env.CC ?? 'cc', ['-std=gnu11', '-Wall', '-Wextra', '-Werror', '-O2', source, '-o', gen, '-lseccomp'], { stdio: 'inherit' })
  // Written aside and renamed, so a sandbox starting meanwhile never reads half a filter.
  execFileSync(gen, SECCOMP_OUTPUTS.map((p) => `${p}.tmp`), { stdio: 'inherit' })
  for (const p of SECCOMP_OUTPUTS) renameSync(`${p}.tmp`, p)
  return true
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = buildSeccompFilter() ? 0 : 1
