import { createHash } from 'node:crypto'
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isValidUserName } from '@infra-lab/protocol/limits-core'
import { shellQuote } from './claim-script.ts'
import { USER_RC_FD } from './state-dir.ts'

/**
 * Per-user uids with 0700 directories on a file system shared by many sandboxes (the EFS access
 * point on ECS, docs/security.md). Users get uids from USER_UID_BASE up; the agent (uid 0 with
 * CHOWN, SETUID, SETGID only) prepares the directory, then the shell drops to that uid.
 */
export const USER_UID_BASE = 200_000
export const USER_UID_SPAN = 1_000_000
/** Root-only directory recording which user holds which uid (one file per uid, made with O_EXCL). */
export const UID_REGISTRY_DIR = '.uids'
const MAX_PROBES = 64

export interface UserWorkspace {
  readonly home: string
  readonly uid: number
}

/** Where a user's uid search starts: stable across sandboxes and restarts. */
export function preferredUid(user: string): number {
  return USER_UID_BASE + (createHash('sha256').update(user).digest().readUInt32BE(0) % USER_UID_SPAN)
}

/**
 * The user's uid, claimed once for the whole file system: an exclusive create of
 * `.uids/<uid>` holding the name (atomic on NFSv4/EFS), probing on when another user holds it.
 */
export function allocateUid(root: string, user: string): number {
  const registry = join(root, UID_REGISTRY_DIR)
  mkdirSync(registry, { recursive: true, mode: 0o700 })
  const first = preferredUid(user) - USER_UID_BASE
  for (let i = 0; i < MAX_PROBES; i++) {
    const uid = USER_UID_BASE + ((first + i) % USER_UID_SPAN)
    const file = join(registry, String(uid))
    try {
      writeFileSync(file, user, { flag: 'wx', mode: 0o600 })
      return uid
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      if (readFileSync(file, 'utf8') === user) return uid
    }
  }
  throw new Error(`no free uid for ${user} after ${MAX_PROBES} probes`)
}

/** Creates (or re-owns) `<root>/<user>` as the user's own 0700 directory. */
export function prepareUserWorkspace(root: string, user: string): UserWorkspace {
  if (!isValidUserName(user)) throw new Error(`invalid user name ${JSON.stringify(user)}`)
  const uid = allocateUid(root, user)
  const home = join(root, user)
  mkdirSync(home, { mode: 0o700, recursive: true })
  const st = lstatSync(home)
  if (!st.isDirectory()) throw new Error(`${home} is not a directory`)
  if (st.uid !== uid || st.gid !== uid) chownSync(home, uid, uid)
  if ((st.mode & 0o7777) !== 0o700) chmodSync(home, 0o700)
  return { home, uid }
}

/** Run by absolute path: the root warm shell's PATH must never decide what runs as root. */
export const SETPRIV_PATH = '/usr/bin/setpriv'

/**
 * All the root warm shell is given at claim time when the shell must run as the user: bash
 * replaces itself with an interactive bash under the user's uid and gid, no supplementary
 * groups, no capabilities (a uid 0 -> non-0 switch clears them) and no way to gain any back
 * (no_new_privs). That bash reads the claim (env, secrets, identity) from the descriptors the
 * warm shell holds (state-dir.ts), so the caller's variables exist only after the drop. Should
 * the exec fail, the root shell exits instead of serving the user.
 */
export function dropToUserLine(uid: number, shellPath: string): string {
  if (!shellPath.startsWith('/')) throw new Error(`the shell must be an absolute path, not ${JSON.stringify(shellPath)}`)
  return `exec ${SETPRIV_PATH} --reuid=${uid} --regid=${uid} --clear-groups --inh-caps=-all --no-new-privs -- ${shellQuote(shellPath)}` +
    ` --noprofile --rcfile /dev/fd/${USER_RC_FD} -i || exit 126`
}
