import { z } from 'zod'
import {
  ENV_NAME_RE, MAX_ENV_TOTAL_BYTES, MAX_ENV_VALUE_BYTES, MAX_ENV_VARS, RESERVED_ENV_PROBLEM, USER_NAME_PROBLEM, USER_NAME_RE,
  isReservedEnvName,
} from './limits-core.ts'

export * from './limits-core.ts'

export const userNameSchema = z.string().regex(USER_NAME_RE, USER_NAME_PROBLEM)

export const envMapSchema = z
  .record(
    z.string().regex(ENV_NAME_RE, 'environment variable names must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$')
      .refine((k) => !isReservedEnvName(k), RESERVED_ENV_PROBLEM),
    z.string()
      .refine((v) => !v.includes('\0'), 'must not contain NUL bytes')
      .refine((v) => Buffer.byteLength(v) <= MAX_ENV_VALUE_BYTES, `must be at most ${MAX_ENV_VALUE_BYTES} bytes`),
  )
  .refine((m) => Object.keys(m).length <= MAX_ENV_VARS, `at most ${MAX_ENV_VARS} variables`)
  .refine(
    (m) => Object.entries(m).reduce((n, [k, v]) => n + k.length + Buffer.byteLength(v), 0) <= MAX_ENV_TOTAL_BYTES,
    `at most ${MAX_ENV_TOTAL_BYTES} bytes in all`,
  )
