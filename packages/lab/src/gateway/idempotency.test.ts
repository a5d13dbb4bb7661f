import { describe, expect, it } from 'vitest'
import { ApiError } from './errors.ts'
import { IDEMPOTENCY_MAX_KEYS, IDEMPOTENCY_TTL_MS, IdempotencyCache, type Outcome } from './idempotency.ts'

describe('idempotency keys', () => {
  const ok = (n: number): Outcome => ({ status: 200, body: { n } })

  it('runs once per session and key; a concurrent duplicate waits for the first and gets its result', async () => {
    const cache = new IdempotencyCache()
    let runs = 0
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const call = async () => {
      runs++
      await gate
      return ok(runs)
    }
    const first = cache.run('ses-a', 'k', { cmd: 'x' }, call)
    const second = cache.run('ses-a', 'k', { cmd: 'x' }, call)
    release()
    expect(await first).toEqual(ok(1))
    expect(await second).toEqual(ok(1))
    expect(await cache.run('ses-a', 'k', { cmd: 'x' }, call)).toEqual(ok(1))
    // another session's key of the same name is another key
    expect(await cache.run('ses-b', 'k', { cmd: 'x' }, call)).toEqual(ok(2))
    expect(runs).toBe(2)
  })

  it('refuses the same key with another request', async () => {
    const cache = new IdempotencyCache()
    await cache.run('ses-a', 'k', { cmd: 'x' }, async () => ok(1))
    await expect(cache.run('ses-a', 'k', { cmd: 'y' }, async () => ok(2))).rejects.toMatchObject({ code: 'idempotency_key_reused', status: 409 })
  })

  it('keeps a 4xx answer, forgets a 5xx one so a retry may succeed', async () => {
    const cache = new IdempotencyCache()
    let runs = 0
    const refuse = async (): Promise<Outcome> => {
      runs++
      throw new ApiError('exec_failed', 'no such program')
    }
    await expect(cache.run('s', 'a', {}, refuse)).rejects.toMatchObject({ code: 'exec_failed' })
    await expect(cache.run('s', 'a', {}, refuse)).rejects.toMatchObject({ code: 'exec_failed' })
    expect(runs).toBe(1)
    const fail = async (): Promise<Outcome> => {
      runs++
      throw new ApiError('session_unavailable', 'lost')
    }
    await expect(cache.run('s', 'b', {}, fail)).rejects.toMatchObject({ code: 'session_unavailable' })
    expect(await cache.run('s', 'b', {}, async () => ok(9))).toEqual(ok(9))
  })

  it('forgets a key after ten minutes, and stays bounded in keys', async () => {
    let now = 0
    const cache = new IdempotencyCache(() => now)
    await cache.run('s', 'k', {}, async () => ok(1))
    now = IDEMPOTENCY_TTL_MS - 1
    expect(await cache.run('s', 'k', {}, async () => ok(2))).toEqual(ok(1))
    now = IDEMPOTENCY_TTL_MS
    expect(await cache.run('s', 'k', {}, async () => ok(3))).toEqual(ok(3))
    for (let i = 0; i < IDEMPOTENCY_MAX_KEYS + 50; i++) await cache.run('s', `k${i}`, {}, async () => ok(i))
    expect(cache.size).toBeLessThanOrEqual(IDEMPOTENCY_MAX_KEYS)
  })
})
