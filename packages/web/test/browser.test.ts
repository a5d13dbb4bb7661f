import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localDriverSkipReason, localTestEnv } from '../../lab/src/drivers/local/test-support.ts'
import { startTestGateway, TEST_KEY, waitFor } from '../../lab/src/gateway/test-gateway.test-util.ts'
import { findRepoRoot } from '../../lab/src/paths.ts'

// Drives Debian's Chromium (never a downloaded browser) against a real gateway with the local
// driver: sign in, a shell, resize, reload, terminate, a wrong key. Screenshots of each page go
// to docs/screenshots/ (linked from the README).

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const root = findRepoRoot()
const shots = join(root, 'docs', 'screenshots')
const skip = localDriverSkipReason()
  ?? (existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`)
  ?? (existsSync(join(root, 'packages/agent/dist/agent.mjs')) ? undefined : 'the agent bundle is not built (node scripts/build.mjs)')
if (skip) console.warn(`browser tests skipped: ${skip}`)

/** The terminal's visible text, one line per row (xterm's DOM renderer). */
const screenText = (page: Page) => page.locator('#terminal .xterm-rows').innerText()

async function waitForScreen(page: Page, pattern: RegExp, what: string): Promise<RegExpMatchArray> {
  let m: RegExpMatchArray | null = null
  await waitFor(async () => (m = pattern.exec(await screenText(page))) !== null, 15_000, what).catch(async (err: Error) => {
    throw new Error(`${err.message}; the terminal shows:\n${await screenText(page)}`)
  })
  return m!
}

async function typeLine(page: Page, line: string): Promise<void> {
  await page.locator('#terminal').click()
  await page.keyboard.type(line)
  await page.keyboard.press('Enter')
}

async function sttySize(page: Page, marker: string): Promise<{ rows: number; cols: number }> {
  await typeLine(page, `echo ${marker}$(stty size)${marker}`)
  const m = await waitForScreen(page, new RegExp(`${marker}(\\d+) (\\d+)${marker}`), `stty size (${marker})`)
  return { rows: Number(m[1]), cols: Number(m[2]) }
}

describe.skipIf(skip !== undefined)(`web dashboard and terminal in Chromium (local driver)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let env: Awaited<ReturnType<typeof localTestEnv>>
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  let profile: string
  let context: BrowserContext
  let page: Page
  let sessionId = ''

  beforeAll(async () => {
    if (!existsSync(join(root, 'packages/web/dist/index.html'))) {
      const { build } = await import('vite')
      await build({ configFile: join(root, 'packages/web/vite.config.ts'), logLevel: 'warn' })
    }
    env = await localTestEnv('web')
    gw = await startTestGateway(await env.makeDriver(), { driver: 'local', pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 4 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 1, 30_000, 'a warm sandbox')
    profile = mkdtempSync(join(tmpdir(), 'infra-lab-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 720 },
    })
    page = context.pages()[0] ?? (await context.newPage())
    mkdirSync(shots, { recursive: true })
  })

  afterAll(async () => {
    await context?.close()
    if (profile) rmSync(profile, { recursive: true, force: true })
    await gw?.cleanup()
    await env?.cleanup()
  })

  it('rejects a wrong API key with a readable message', async () => {
    await page.goto(gw.url)
    await page.getByLabel('API key').waitFor()
    await page.screenshot({ path: join(shots, 'sign-in.png') })
    await page.getByLabel('API key').fill('not-the-key-0000000000')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'The API key was not accepted' }).waitFor()
    expect(await page.evaluate("sessionStorage.getItem('infra-lab.apiKey')")).toBeNull()
    expect(page.url()).not.toContain('not-the-key')
  })

  it('signs in and opens a working shell in one click', async () => {
    await page.getByLabel('API key').fill(TEST_KEY)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('button', { name: 'New shell' }).click()
    await page.locator('#term-status').filter({ hasText: /ready in .+, (warm|cold)/ }).waitFor()
    sessionId = /#\/terminal\/(ses-[^/?#]+)/.exec(page.url())?.[1] ?? ''
    expect(sessionId).not.toBe('')
    expect(page.url()).not.toContain(TEST_KEY)
    await typeLine(page, 'echo $((6*7))')
    await waitForScreen(page, /^42\s*$/m, 'the answer 42')
    await page.screenshot({ path: join(shots, 'terminal.png') })
  })

  it('follows the window size', async () => {
    const before = await sttySize(page, 'A')
    await page.setViewportSize({ width: 760, height: 560 })
    let after = before
    await waitFor(async () => {
      after = await sttySize(page, `B${Math.floor(Math.random() * 1e6)}Z`)
      return after.cols < before.cols
    }, 15_000, 'the shell to see fewer columns')
    expect(after.rows).toBeLessThan(before.rows)
    await page.screenshot({ path: join(shots, 'terminal-narrow.png') })
    await page.setViewportSize({ width: 1280, height: 720 })
  })

  it('re-attaches with the scrollback after a reload', async () => {
    await page.reload()
    await page.locator('#term-status').filter({ hasText: `re-attached to ${sessionId}` }).waitFor()
    await waitForScreen(page, /^42\s*$/m, 'the scrollback after reload')
    await typeLine(page, 'echo again-$((6*7))')
    await waitForScreen(page, /^again-42\s*$/m, 'live output after reload')
  })

  it('shows the pools and sessions on the dashboard and terminates a session from it', async () => {
    await page.getByRole('link', { name: 'Dashboard' }).click()
    const terminate = page.getByRole('button', { name: `Terminate the session of alice (${sessionId})` })
    await terminate.waitFor()
    await page.locator('.uplot').first().waitFor()
    await page.getByText(/warm hit rate/).first().waitFor()
    await waitFor(async () => (await page.locator('.uplot').count()) >= 2, 10_000, 'both charts')
    await page.getByText(/^Updated /).waitFor()
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true })
    await page.emulateMedia({ colorScheme: 'dark' })
    await page.screenshot({ path: join(shots, 'dashboard-dark.png'), fullPage: true })
    await page.emulateMedia({ colorScheme: 'light' })

    await terminate.click()
    await page.getByText(`Session ${sessionId} terminated.`).waitFor()
    await terminate.waitFor({ state: 'detached' })
    expect((await gw.sessions.get(sessionId)).endedReason).toBe('terminated')
  })

  it('says why when opening an ended session', async () => {
    await page.goto(`${gw.url}/#/terminal/${sessionId}`)
    await page.getByRole('alert').filter({ hasText: 'The session was terminated' }).waitFor()
    await page.screenshot({ path: join(shots, 'session-ended.png') })
  })
})
