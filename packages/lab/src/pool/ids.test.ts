import { describe, expect, it } from 'vitest'
import { newSandboxId } from './ids.ts'

describe('newSandboxId', () => {
  it('is sb- and 12 base32 characters, and random', () => {
    const ids = new Set(Array.from({ length: 1000 }, newSandboxId))
    expect(ids.size).toBe(1000)
    for (const id of ids) expect(id).toMatch(/^sb-[a-z2-7]{12}$/)
  })
})
