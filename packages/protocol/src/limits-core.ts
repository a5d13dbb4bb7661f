// The limits on claim input as plain values: no zod here, so the agent can share them without
// loading a schema library. limits.ts builds the zod schemas from these; lite/ checks the same.

/** User names: the same rule everywhere (API, store, workspace paths). */
export const USER_NAME_RE = /^[A-Za-z0-9._-]{1,64}$/
/** Environment variable names accepted in a claim. */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

export const MAX_ENV_VARS = 128
export const MAX_ENV_VALUE_BYTES = 32 * 1024
export const MAX_ENV_TOTAL_BYTES = 128 * 1024
/** Names the sandbox sets itself at claim time; a claim may not override them. */
export const RESERVED_ENV_NAMES: ReadonlySet<string> = new Set([
  'HOME', 'USER', 'LOGNAME', 'SHELL', 'PWD', 'OLDPWD', 'INFRA_LAB_SESSION_ID',
])
