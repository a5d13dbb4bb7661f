// The limits on claim input as plain values: no zod here, so the agent can share them without
// loading a schema library. limits.ts builds the zod schemas from these; lite/ checks the same.

/**
 * User names: the one rule for the API, the agent, the drivers and the store. A name is one
 * plain path component (it names `<workspaces>/<user>`) and never starts with a dot, so it is
 * never `.`, `..` or a hidden entry such as the agent's uid registry `.uids`.
 */
export const USER_NAME_PATTERN = '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$'
export const USER_NAME_RE = new RegExp(USER_NAME_PATTERN)
export const USER_NAME_PROBLEM = `must match ${USER_NAME_PATTERN}`

export function isValidUserName(user: string): boolean {
  return USER_NAME_RE.test(user)
}

/** Environment variable names accepted in a claim. */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

export const MAX_ENV_VARS = 128
export const MAX_ENV_VALUE_BYTES = 32 * 1024
export const MAX_ENV_TOTAL_BYTES = 128 * 1024

/**
 * Names a claim may not set: the identity the sandbox sets itself at claim time, the agent's
 * own (`AGENT_TLS_PSK`), and those that make the dynamic loader or bash run something of the
 * caller's as a side effect of starting a process or showing a prompt. The agent applies a
 * claim's variables only in the user's own shell, after any privilege drop; refusing these too
 * keeps a mistake there from becoming code run with the agent's rights. `PATH`,
 * `LD_LIBRARY_PATH` and `NODE_ENV` stay allowed.
 */
export const RESERVED_ENV_NAMES: ReadonlySet<string> = new Set([
  'HOME', 'USER', 'LOGNAME', 'SHELL', 'PWD', 'OLDPWD',
  'LD_PRELOAD', 'LD_AUDIT', 'BASH_ENV', 'ENV', 'PROMPT_COMMAND', 'IFS',
  'AGENT_TLS_PSK',
])
/** Prefixes a claim may not use: the lab's own variables (`INFRA_LAB_SESSION_ID`, ...). */
export const RESERVED_ENV_PREFIXES: readonly string[] = ['INFRA_LAB_']
export const RESERVED_ENV_PROBLEM = 'is reserved (set by the sandbox, or read by the loader or the shell at start) and cannot be set'

export function isReservedEnvName(name: string): boolean {
  return RESERVED_ENV_NAMES.has(name) || RESERVED_ENV_PREFIXES.some((p) => name.startsWith(p))
}
