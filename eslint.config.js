// Lint rules, including the import direction inside packages/lab (ARCHITECTURE.md): spec/ (pool
// spec, policy schemas, sandbox handle) imports nothing of ours; store and config import only
// spec; policy imports only clock and spec; pool and sim import policy; gateway imports pool,
// store and drivers; only cli and bench import gateway; nothing imports cli; no driver imports
// another driver (shared host code is in drivers/host/).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const lab = 'packages/lab/src'
// Tests may reach across folders (a gateway test drives it with the typed client).
const tests = ['**/*.test.ts', '**/*.test-util.ts']
const driverFolders = ['local', 'docker', 'ecs', 'fake']
const forbid = (dirs) => ({
  'no-restricted-imports': ['error', {
    patterns: dirs.map((d) => ({ group: [`**/${d}/*`, `**/${d}`, `../${d}/*`, `./${d}/*`], message: `this folder must not import ${d}/ (see ARCHITECTURE.md, dependency direction)` })),
  }],
})

export default tseslint.config(
  { ignores: ['**/dist/**', '**/build/**', '**/node_modules/**', '.infra-lab/**', 'docs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', queueMicrotask: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: [`${lab}/spec/**`], ignores: tests, rules: forbid(['clock', 'policy', 'pool', 'drivers', 'store', 'config', 'egress', 'gateway', 'client', 'mcp', 'sim', 'bench', 'cli']) },
  { files: [`${lab}/config/**`], ignores: tests, rules: forbid(['policy', 'pool', 'drivers', 'store', 'egress', 'gateway', 'client', 'mcp', 'sim', 'bench', 'cli']) },
  { files: [`${lab}/clock/**`], ignores: tests, rules: forbid(['policy', 'pool', 'drivers', 'store', 'gateway', 'client', 'sim', 'bench', 'cli']) },
  // The controller's and the simulator's shared arithmetic: pure, so it imports only clock and spec.
  { files: [`${lab}/policy/**`], ignores: tests, rules: forbid(['pool', 'drivers', 'store', 'config', 'egress', 'observability', 'gateway', 'client', 'mcp', 'sim', 'bench', 'cli']) },
  { files: [`${lab}/store/**`], ignores: tests, rules: forbid(['policy', 'pool', 'drivers', 'config', 'gateway', 'client', 'sim', 'bench', 'cli']) },
  { files: [`${lab}/drivers/**`], ignores: tests, rules: forbid(['policy', 'pool', 'store', 'gateway', 'client', 'sim', 'bench', 'cli']) },
  // A driver never imports another driver: what local and docker share lives in drivers/host/.
  ...driverFolders.map((d) => ({
    files: [`${lab}/drivers/${d}/**`],
    ignores: tests,
    rules: forbid(['policy', 'pool', 'store', 'gateway', 'client', 'sim', 'bench', 'cli', ...driverFolders.filter((o) => o !== d && o !== 'host')]),
  })),
  { files: [`${lab}/drivers/host/**`], ignores: tests, rules: forbid(['policy', 'pool', 'store', 'gateway', 'client', 'sim', 'bench', 'cli', ...driverFolders.filter((o) => o !== 'host')]) },
  { files: [`${lab}/pool/**`], ignores: tests, rules: forbid(['gateway', 'client', 'sim', 'bench', 'cli']) },
  { files: [`${lab}/sim/**`], ignores: tests, rules: forbid(['pool', 'drivers', 'store', 'gateway', 'client', 'bench', 'cli']) },
  { files: [`${lab}/gateway/**`], ignores: tests, rules: forbid(['client', 'sim', 'bench', 'cli']) },
  { files: [`${lab}/client/**`], ignores: tests, rules: forbid(['pool', 'drivers', 'store', 'gateway', 'sim', 'bench', 'cli']) },
  // The MCP tools reach the gateway only through the SDK, over the network or in-process.
  { files: [`${lab}/mcp/**`], ignores: tests, rules: forbid(['pool', 'drivers', 'store', 'gateway', 'client', 'sim', 'bench', 'cli']) },
  { files: [`${lab}/bench/**`], ignores: tests, rules: forbid(['cli']) },
  { files: ['packages/protocol/**'], rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['infra-lab', '@infra-lab/agent', '**/lab/**', '**/agent/**'], message: 'protocol depends on nothing of ours' }] }] } },
  // Clients reach the gateway through @infra-lab/sdk only: the CLI's commands, the web app; and
  // the SDK runs in browsers too, so it imports no Node built-in and no package.
  { files: [`${lab}/cli/**`], ignores: tests, rules: forbid(['client']) },
  { files: ['packages/web/app/**'], rules: { 'no-restricted-globals': ['error', ...['fetch', 'WebSocket'].map((name) => ({ name, message: 'the web app calls the gateway through @infra-lab/sdk' }))] } },
  { files: ['packages/sdk/src/**'], ignores: tests, rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', '[a-z@]*', '!./*', '!../*'], message: 'the SDK runs in browsers and Node alike and depends on nothing' }] }] } },
  { files: ['packages/agent/**'], rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['infra-lab', '**/lab/**'], message: 'the agent depends only on the protocol' }] }] } },
)
