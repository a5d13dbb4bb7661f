// Field checks shared by the zod-free validators, each matching what the zod schema of the same
// field accepts (messages.ts, ops-messages.ts). Error texts name the field, never its value.
import {
  ENV_NAME_RE, MAX_ENV_TOTAL_BYTES, MAX_ENV_VALUE_BYTES, MAX_ENV_VARS, RESERVED_ENV_PROBLEM, isReservedEnvName,
} from '../limits-core.ts'

export type Fields = Record<PropertyKey, unknown>

export class Invalid extends Error {}

export function fail(path: string, problem: string): never {
  throw new Invalid(`${path}: ${problem}`)
}

export function string(input: Fields, key: string): string {
  const value = input[key]
  if (typeof value !== 'string') fail(key, 'expected a string')
  return value
}

/** zod's `z.number().int()`: a safe integer, then the bounds (inclusive). */
export function int(input: Fields, key: string, min = -Infinity, max = Infinity): number {
  const value = input[key]
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(key, 'expected an integer')
  if (value < min) fail(key, `must be at least ${min}`)
  if (value > max) fail(key, `must be at most ${max}`)
  return value
}

/**
 * `envMapSchema` (limits.ts). As zod's record does: a key `__proto__` is skipped unread (it
 * could not be set on the result), non-enumerable keys are skipped, and the count and total
 * are over the result.
 */
export function envMap(input: Fields, field: string): Record<string, string> {
  const map = input[field]
  if (!isPlainObject(map)) fail(field, 'expected an object of strings')
  const out: Record<string, string> = {}
  let count = 0
  let totalBytes = 0
  for (const key of Reflect.ownKeys(map)) {
    if (key === '__proto__' || !Object.prototype.propertyIsEnumerable.call(map, key)) continue
    if (typeof key !== 'string') fail(field, 'keys must be strings')
    const path = `${field}.${key}`
    if (!ENV_NAME_RE.test(key)) fail(path, 'environment variable names must match ^[A-Za-z_][A-Za-z0-9_]{0,127}$')
    if (isReservedEnvName(key)) fail(path, RESERVED_ENV_PROBLEM)
    const value = map[key]
    if (typeof value !== 'string') fail(path, 'expected a string')
    if (value.includes('\0')) fail(path, 'must not contain NUL bytes')
    const bytes = Buffer.byteLength(value)
    if (bytes > MAX_ENV_VALUE_BYTES) fail(path, `must be at most ${MAX_ENV_VALUE_BYTES} bytes`)
    out[key] = value
    count++
    totalBytes += key.length + bytes
  }
  if (count > MAX_ENV_VARS) fail(field, `at most ${MAX_ENV_VARS} variables`)
  if (totalBytes > MAX_ENV_TOTAL_BYTES) fail(field, `at most ${MAX_ENV_TOTAL_BYTES} bytes in all`)
  return out
}

/** Lengths as zod's `.min()`/`.max()` count them: code points, a lone surrogate counting one. */
export function codePointLength(s: string): number {
  let length = s.length
  for (let i = 0; i < s.length - 1; i++) {
    if ((s.charCodeAt(i) & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      length--
      i++
    }
  }
  return length
}

/** zod's `isObject`, which `z.object` and the discriminated union require. */
export function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** zod's `isPlainObject`, which `z.record` requires (every object JSON.parse makes is one). */
export function isPlainObject(value: unknown): value is Fields {
  if (!isObject(value)) return false
  const ctor = value.constructor
  if (ctor === undefined || typeof ctor !== 'function') return true
  const proto: unknown = ctor.prototype
  return isObject(proto) && Object.prototype.hasOwnProperty.call(proto, 'isPrototypeOf')
}
