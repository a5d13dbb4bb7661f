import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build, transform } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AGENT_BUNDLE_DIR, localDriverSkipReason, localTestEnv } from '../../lab/src/drivers/local/test-support.ts'
import { auth, startTestGateway, TEST_KEY, waitFor } from '../../lab/src/gateway/test-gateway.test-util.ts'
import { findRepoRoot } from '../../lab/src/paths.ts'

const root = findRepoRoot()

/** The README's SDK example: the first ```ts block of its "## SDK" section. */
function readmeExample(): string {
  const section = readFileSync(join(root, 'README.md'), 'utf8').split(/^## /m).find((s) => s.startsWith('SDK\n'))
  const code = section && /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  if (!code) throw new Error('README.md has no ```ts block in a "## SDK" section')
  return code
}

/** The SDK as an installed package would be: one ESM file, no dependency, under node_modules. */
async function installSdk(dir: string): Promise<void> {
  const pkg = join(dir, 'node_modules/@infra-lab/sdk')
  mkdirSync(pkg, { recursive: true })
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@infra-lab/sdk', type: 'module', exports: './index.js' }))
  // platform neutral: a Node built-in (or any package) in the SDK fails this build
  await build({ entryPoints: [join(root, 'packages/sdk/src/index.ts')], bundle: true, format: 'esm', platform: 'neutral', target: 'es2022', outfile: join(pkg, 'index.js'), logLevel: 'silent' })
}

function runNode(file: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [file], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    c.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

const skip = localDriverSkipReason() ?? (existsSync(join(AGENT_BUNDLE_DIR, 'agent.mjs')) ? undefined : 'the agent bundle is not built (node scripts/build.mjs)')

describe('the README SDK example', () => {
  it('is in README.md, in a few lines', () => {
    const lines = readmeExample().trim().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('import '))
    expect(lines.length).toBeLessThanOrEqual(10)
  })

  describe.skipIf(skip !== undefined)(`against a local-driver gateway${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let env: Awaited<ReturnType<typeof localTestEnv>>
    let gw: Awaited<ReturnType<typeof startTestGateway>>
    let dir: string

    beforeAll(async () => {
      env = await localTestEnv('readme')
      gw = await startTestGateway(await env.makeDriver(), { driver: 'local', pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 2 }] })
      await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 1, 30_000, 'a warm sandbox')
      dir = mkdtempSync(join(tmpdir(), 'infra-lab-readme-'))
    })
    afterAll(async () => {
      await gw?.cleanup()
      await env?.cleanup()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    it('runs as plain JavaScript on Node against the SDK installed as a package, and ends its session', async () => {
      await installSdk(dir)
      const js = (await transform(readmeExample(), { loader: 'ts', format: 'esm', target: 'node20' })).code
      writeFileSync(join(dir, 'example.mjs'), js)
      const r = await runNode(join(dir, 'example.mjs'), { INFRA_LAB_URL: gw.url, INFRA_LAB_API_KEY: TEST_KEY })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(r.stdout).toBe('0 hello from alice ship it\n\ntodo.txt\n')
      const sessions = (await gw.app.inject({ method: 'GET', url: '/v1/sessions?user=alice', headers: auth })).json().sessions
      expect(sessions.map((s: { state: string; endedReason: string }) => [s.state, s.endedReason])).toEqual([['ended', 'terminated']])
    })
  })
})
