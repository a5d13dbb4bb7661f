import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DriverError } from '../types.ts'

/**
 * The seccomp filter every local and Docker sandbox runs under: the rules are in
 * packages/lab/native/seccomp_filter.c, which scripts/build.mjs compiles against libseccomp to
 * write both forms.
 */
export interface SeccompFilter {
  /** The classic BPF program, as `bwrap --seccomp FD` reads it. */
  readonly bpf: Buffer
  /** The same rules as a Docker seccomp profile (JSON text, for `SecurityOpt: seccomp=...`). */
  readonly dockerProfile: string
}

const BUILD_DIR = 'native/build'
const NOT_BUILT = 'install libseccomp-dev (`sudo apt-get install libseccomp-dev`) and run `npm run build`'

const here = dirname(fileURLToPath(import.meta.url))
/** The build dir as seen from the source tree (src/drivers/host) and from the CLI bundle (dist/). */
const BUILD_DIRS = [join(here, '../../../', BUILD_DIR), join(here, '../', BUILD_DIR)]

/** Reads both forms from the first of `candidates` that has them; throws with what to run if none. */
export function loadSeccompFilter(candidates: readonly string[] = BUILD_DIRS): SeccompFilter {
  const dir = candidates.find((d) => existsSync(join(d, 'seccomp.bpf')) && existsSync(join(d, 'seccomp.json')))
  if (!dir) throw new DriverError('unavailable', `the sandbox seccomp filter is not built (${join(candidates[0]!, 'seccomp.bpf')}): ${NOT_BUILT}`)
  const bpf = readFileSync(join(dir, 'seccomp.bpf'))
  let profile: { defaultAction?: unknown; syscalls?: unknown } | undefined
  try {
    profile = JSON.parse(readFileSync(join(dir, 'seccomp.json'), 'utf8')) as typeof profile
  } catch {
    profile = undefined
  }
  // A sock_filter is 8 bytes; an empty or torn file would give a sandbox no filter or no start.
  if (bpf.length === 0 || bpf.length % 8 !== 0 || profile?.defaultAction !== 'SCMP_ACT_ALLOW' || !Array.isArray(profile.syscalls)) {
    throw new DriverError('unavailable', `the sandbox seccomp filter in ${dir} is damaged: delete it and ${NOT_BUILT}`)
  }
  // One line: it travels in every container create and shows in `docker inspect`.
  return { bpf, dockerProfile: JSON.stringify(profile) }
}
