import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findRepoRoot } from '../src/paths.ts'

/**
 * `infra-lab gateway --driver ecs …` as a real process, built from the current sources (the
 * committed dist may be older). No AWS credentials anywhere and instance metadata disabled, so
 * the SDK fails without leaving loopback.
 */
const root = findRepoRoot()
const outDir = join(root, 'node_modules', '.cache', `infra-lab-ecs-cli-${process.pid}`)
const cli = join(outDir, 'cli.mjs')
const home = mkdtempSync(join(tmpdir(), 'infra-lab-ecs-cli-'))

beforeAll(async () => {
  const deps = Object.keys((JSON.parse(readFileSync(join(root, 'packages/lab/package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies)
  await build({
    entryPoints: [join(root, 'packages/lab/src/cli/main.ts')], outfile: cli, bundle: true, platform: 'node', target: 'node20', format: 'esm',
    external: deps, logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  })
}, 60_000)
afterAll(() => {
  rmSync(outDir, { recursive: true, force: true })
  rmSync(home, { recursive: true, force: true })
})

/** An environment with no AWS credentials: no keys, no profile files, no container or instance metadata. */
function bareEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(home, 'no-config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
    INFRA_LAB_LOG_LEVEL: 'silent', ...extra,
  }
}

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [cli, ...args], { env, cwd: home, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => c.kill('SIGKILL'), 30_000)
    c.on('error', reject)
    c.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, ms: Date.now() - started })
    })
  })
}

const ecsArgs = (dataDir: string) => [
  'gateway', '--driver', 'ecs', '--cluster', 'lab', '--task-definition', 'lab-sandbox:1', '--subnets', 'subnet-a,subnet-b',
  '--security-groups', 'sg-tasks', '--capacity-provider', 'FARGATE_SPOT:1', '--data-dir', dataDir, '--port', '0',
]

describe('infra-lab gateway --driver ecs without AWS credentials', () => {
  it('fails at start-up, saying credentials are missing, when a region is set', async () => {
    const dataDir = join(home, 'with-region')
    const r = await run(ecsArgs(dataDir), bareEnv({ AWS_REGION: 'eu-west-1' }))
    expect(r.code).toBe(1)
    expect(r.stdout).not.toContain('listening')
    expect(r.stderr).toMatch(/^infra-lab gateway: cannot start: the ecs driver cannot reach ECS: CredentialsProviderError: .*credentials/m)
    expect(r.stderr).toContain('set AWS credentials and AWS_REGION')
    // The agent key it generated for per-task keys is private to the gateway.
    expect(statSync(join(dataDir, 'ecs-agent-key')).mode & 0o777).toBe(0o600)
  }, 40_000)

  it('fails at start-up naming the region when none is set', async () => {
    const r = await run(ecsArgs(join(home, 'no-region')), bareEnv())
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/cannot start: the ecs driver cannot reach ECS: .*[Rr]egion is missing/)
    expect(r.stderr).toContain('AWS_REGION')
  }, 40_000)

  it('rejects an incomplete ecs configuration before touching AWS, naming the fields', async () => {
    const r = await run(['gateway', '--driver', 'ecs', '--cluster', 'lab', '--data-dir', join(home, 'incomplete'), '--port', '0'], bareEnv())
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('invalid configuration')
    expect(r.stderr).toContain('ecs.taskDefinition: required by the ecs driver (--task-definition, INFRA_LAB_ECS_TASK_DEFINITION')
    expect(r.stderr).toContain('ecs.subnets: required by the ecs driver (--subnets')
  }, 40_000)
})

describe('the AWS benchmarks without AWS credentials', () => {
  it('bench ecs says there are no credentials and exits 1, writing nothing', async () => {
    const r = await run(['bench', 'ecs', '--cluster', 'lab', '--task-definition', 'lab-sandbox:1', '--subnets', 'subnet-a', '--out', 'bench-out'], bareEnv({ AWS_REGION: 'eu-west-1' }))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^infra-lab bench ecs: no AWS credentials/m)
    expect(existsSync(join(home, 'bench-out'))).toBe(false)
  }, 40_000)

  it('bench warm-pool says there are no credentials and exits 1, writing nothing', async () => {
    const r = await run(['bench', 'warm-pool', '--asg', 'lab-asg', '--cluster', 'lab', '--task-definition', 'lab-sandbox:1', '--subnets', 'subnet-a', '--out', 'bench-out'], bareEnv({ AWS_REGION: 'eu-west-1' }))
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^infra-lab bench warm-pool: no AWS credentials/m)
    expect(existsSync(join(home, 'bench-out'))).toBe(false)
  }, 40_000)
})
