import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'infra/src/**/*.test.ts', 'infra/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real sandboxes; two cores cannot run many files at once.
    maxWorkers: 2,
    // The skip list prints before the default reporter's closing counts.
    reporters: ['./scripts/skip-summary-reporter.mjs', 'default'],
  },
})
