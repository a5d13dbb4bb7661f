#!/usr/bin/env node
// Builds the runnable artefacts: the agent bundle and its exec helper (copied into every
// sandbox), the CLI bundle, the native mount addon used by the local driver, the sandboxes'
// seccomp filter, and the web dashboard (vite). Runs on `npm ci` (prepare) and `npm test`.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildSeccompFilter } from './build-seccomp.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const started = Date.now()

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: false,
  logLevel: 'warning',
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
}

// The agent's exec helper (packages/agent/native/lab-exec.c), linked statically: it runs in any
// sandbox image whatever its C library, and without the dynamic loader's work on every exec.
// Rebuilt when missing or older than its source.
const helperSource = join(root, 'packages/agent/native/lab-exec.c')
const helper = join(root, 'packages/agent/dist/lab-exec')
if (!existsSync(helper) || statSync(helper).mtimeMs < statSync(helperSource).mtimeMs) {
  mkdirSync(dirname(helper), { recursive: true })
  execFileSync(process.env.CC ?? 'cc', ['-std=gnu11', '-Wall', '-Wextra', '-Werror', '-O2', '-static', helperSource, '-o', `${helper}.tmp`], { stdio: 'inherit' })
  renameSync(`${helper}.tmp`, helper)
}

await build({
  ...common,
  entryPoints: [join(root, 'packages/agent/src/main.ts')],
  outfile: join(root, 'packages/agent/dist/agent.mjs'),
  external: ['node-pty'],
  minify: true,
  // The bundle names the helper it ships with: a new helper is a new bundle (image and copy
  // checks compare the bundle), and an agent beside another helper refuses to use it.
  define: { LAB_EXEC_SHA256: JSON.stringify(createHash('sha256').update(readFileSync(helper)).digest('hex')) },
})

const labPkg = JSON.parse(readFileSync(join(root, 'packages/lab/package.json'), 'utf8'))
await build({
  ...common,
  entryPoints: [join(root, 'packages/lab/src/cli/main.ts')],
  outfile: join(root, 'packages/lab/dist/cli.mjs'),
  external: Object.keys(labPkg.dependencies ?? {}),
})
// `bench startup`'s transport floor, started as its own process like the gateway.
await build({
  ...common,
  entryPoints: [join(root, 'packages/lab/src/bench/floor-main.ts')],
  outfile: join(root, 'packages/lab/dist/floor-server.mjs'),
  external: Object.keys(labPkg.dependencies ?? {}),
})

// Native addon (mount(2) for the local driver): node-gyp ships with npm.
const nativeDir = join(root, 'packages/lab/native')
const addon = join(nativeDir, 'build/Release/lab_mount.node')
// Rebuilt when missing or older than its sources (a checkout that changed the C code).
const stale = () => !existsSync(addon) || readdirSync(nativeDir).filter((f) => f.endsWith('.c') || f === 'binding.gyp')
  .some((f) => statSync(join(nativeDir, f)).mtimeMs > statSync(addon).mtimeMs)
if (existsSync(join(nativeDir, 'binding.gyp')) && stale()) {
  const gyp = process.env.npm_config_node_gyp
    ?? join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')
  // Without network, use the headers installed beside node (as `nodedir=/usr` in .npmrc would).
  const prefix = join(dirname(process.execPath), '..')
  const nodedir = process.env.npm_config_nodedir
    ?? (existsSync(join(prefix, 'include/node/common.gypi')) ? prefix : undefined)
  const args = nodedir ? [gyp, 'rebuild', `--nodedir=${nodedir}`] : [gyp, 'rebuild']
  execFileSync(process.execPath, args, { cwd: nativeDir, stdio: 'inherit' })
}

// The sandboxes' seccomp filter (after the addon, whose `node-gyp rebuild` empties build/).
buildSeccompFilter()

// The web dashboard and terminal (packages/web): vite bundles it into packages/web/dist, which
// the gateway serves at `/`.
const { build: viteBuild } = await import('vite')
await viteBuild({ configFile: join(root, 'packages/web/vite.config.ts'), logLevel: 'warn' })

console.log(`build: done in ${Date.now() - started} ms`)
