import { configDefaults, defineConfig } from 'vitest/config'

/**
 * Suites that start a hundred sandboxes at once: each runs on its own, after everything else, so
 * it never starves another file's sandboxes (two cores) and is not starved by them.
 */
const ALONE = ['packages/lab/test/egress-policy-local.test.ts', 'packages/lab/test/egress-policy-docker.test.ts']

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests start real sandboxes; two cores cannot run many files at once.
    maxWorkers: 2,
    // The skip list prints before the default reporter's closing counts.
    reporters: ['./scripts/skip-summary-reporter.mjs', 'default'],
    // Projects of a higher groupOrder start once the lower ones are done.
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'infra/src/**/*.test.ts', 'infra/test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...ALONE],
          sequence: { groupOrder: 0 },
        },
      },
      ...ALONE.map((file, i) => ({
        extends: true as const,
        test: { name: file.replace(/^.*\/|\.test\.ts$/g, ''), include: [file], sequence: { groupOrder: i + 1 } },
      })),
    ],
  },
})
