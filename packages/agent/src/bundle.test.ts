// The agent bundle runs in every warm sandbox: zod in it would cost each one ~5.5 MiB of PSS
// (packages/agent/bench/pss.mjs). Value imports of the protocol must use its zod-free subpaths.
import { readFileSync } from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { bundlePath, ensureBundle } from './agent-harness.test-util.ts'

beforeAll(() => ensureBundle(), 60_000)

describe('the agent bundle', () => {
  it('contains no zod', () => {
    const bundle = readFileSync(bundlePath, 'utf8')
    // Property and class names survive minification: zod keeps its internals under `_zod`.
    for (const marker of ['ZodError', '$ZodType', '._zod', 'zod']) expect(bundle, marker).not.toContain(marker)
  })
})
