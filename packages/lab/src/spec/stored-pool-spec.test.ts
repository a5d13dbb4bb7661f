import { describe, expect, it } from 'vitest'
import { poolSpecSchema } from './pool-spec.ts'
import { parseStoredPoolSpec } from './stored-pool-spec.ts'

describe('parseStoredPoolSpec', () => {
  const spec = poolSpecSchema.parse({
    name: 'alpha', driver: 'fake', policy: { kind: 'erlang', targetMissRate: 0.05 }, network: true, egress: { egress: 'allow', allow: ['example.com'] },
  })

  it('drops fields a newer release added, at every level, and keeps the rest', () => {
    const written = {
      ...spec, warmupScript: '/x', policy: { ...spec.policy, burstFactor: 2 }, limits: { ...spec.limits, gpus: 1 }, egress: { ...spec.egress, audit: true },
    }
    expect(parseStoredPoolSpec(JSON.parse(JSON.stringify(written)))).toEqual(spec)
  })

  it('does not change what it was given', () => {
    const written = { ...spec, extra: 1 }
    parseStoredPoolSpec(written)
    expect(written).toHaveProperty('extra', 1)
  })

  it('still refuses a known field with a bad value', () => {
    expect(() => parseStoredPoolSpec({ ...spec, maxSize: -1, extra: 1 })).toThrow(/maxSize/)
    expect(() => parseStoredPoolSpec({ ...spec, policy: { kind: 'newer-kind' } })).toThrow()
  })

  it('is what the config keeps strict: the config schema itself still refuses unknown fields', () => {
    expect(poolSpecSchema.safeParse({ ...spec, extra: 1 }).success).toBe(false)
  })
})
