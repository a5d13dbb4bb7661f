import { z } from 'zod'

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

export const userNameSchema = z
  .string()
  .regex(USER_NAME_RE, 'must match ^[A-Za-z0-9._-]{1,64}$')
  .refine((s) => s !== '.' && s !== '..', 'must not be "." or ".."')

export const envMapSchema = z
  .record(
    z.string().regex(ENV_NAME_RE, 'environment variable names must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$')
      .refine((k) => !RESERVED_ENV_NAMES.has(k), 'is set by the sandbox and cannot be overridden'),
    z.string()
      .refine((v) => !v.includes('\0'), 'must not contain NUL bytes')
      .refine((v) => Buffer.byteLength(v) <= MAX_ENV_VALUE_BYTES, `must be at most ${MAX_ENV_VALUE_BYTES} bytes`),
  )
  .refine((m) => Object.keys(m).length <= MAX_ENV_VARS, `at most ${MAX_ENV_VARS} variables`)
  .refine(
    (m) => Object.entries(m).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v), 0) <= MAX_ENV_TOTAL_BYTES,
    `at most ${MAX_ENV_TOTAL_BYTES} bytes in all`,
  )
