import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InfraLab } from '@infra-lab/sdk'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../../lab/src/drivers/fake/fake-driver.ts'
import { startTestGateway, TEST_KEY, waitFor } from '../../lab/src/gateway/test-gateway.test-util.ts'
import { findRepoRoot } from '../../lab/src/paths.ts'

// The dashboard's tenancy panels in Debian's Chromium against a real gateway (fake sandboxes: the
// panels read the API, not a shell): the admin's keys panel (create with the secret shown once,
// rotate, revoke), quotas in use, ended reasons, and a scoped key that sees no keys panel. This
// gateway has no GET /v1/events: the page must keep polling without a word about it.

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const root = findRepoRoot()
const shots = join(root, 'docs', 'screenshots')
const skip = existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install -y chromium)`

describe.skipIf(skip !== undefined)(`dashboard keys, quotas and ended reasons in Chromium${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let gw: Awaited<ReturnType<typeof startTestGateway>>
  let profile: string
  let context: BrowserContext
  let page: Page
  let admin: InfraLab
  let secret = ''

  const signIn = async (key: string) => {
    await page.goto(`${gw.url}/#/dashboard`)
    await page.evaluate('sessionStorage.clear()')
    await page.reload()
    await page.getByLabel('API key').fill(key)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('heading', { name: 'Quotas in use' }).waitFor()
  }
  const keysCard = () => page.getByRole('region', { name: 'API keys' })
  const quotasCard = () => page.getByRole('region', { name: 'Quotas in use' })

  beforeAll(async () => {
    if (!existsSync(join(root, 'packages/web/dist/index.html'))) {
      const { build } = await import('vite')
      await build({ configFile: join(root, 'packages/web/vite.config.ts'), logLevel: 'warn' })
    }
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 6 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 10_000, 'the pool to fill')
    admin = new InfraLab({ url: gw.url, apiKey: TEST_KEY })
    profile = mkdtempSync(join(tmpdir(), 'infra-lab-chromium-'))
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1280, height: 900 },
    })
    page = context.pages()[0] ?? (await context.newPage())
    page.on('dialog', (d) => void d.accept())
    mkdirSync(shots, { recursive: true })
  })

  afterAll(async () => {
    await context?.close()
    if (profile) rmSync(profile, { recursive: true, force: true })
    await gw?.cleanup()
  })

  it('shows the admin the keys panel; a key created there shows its secret once, and the secret works', async () => {
    await signIn(TEST_KEY)
    await keysCard().getByText('No scoped keys yet.').waitFor()
    await page.getByLabel('Name').fill('ci')
    await page.getByLabel('Users').fill('ci-*')
    await page.getByLabel('Max sessions').fill('2')
    await page.getByLabel('Creates / min').fill('30')
    await page.getByRole('button', { name: 'Create key' }).click()
    const shown = page.getByLabel('The new secret')
    await shown.waitFor()
    secret = (await shown.innerText()).trim()
    expect(secret).toMatch(/^ilk_/)
    await keysCard().getByText(/not shown again/).waitFor()
    await keysCard().getByRole('cell', { name: 'ci', exact: true }).waitFor()
    const [key] = await admin.keys.list()
    expect(key).toMatchObject({ name: 'ci', users: ['ci-*'], maxSessions: 2, createsPerMin: 30 })
    await new InfraLab({ url: gw.url, apiKey: secret }).sessions.create({ user: 'ci-1' })

    await keysCard().getByRole('button', { name: 'Done' }).click()
    expect(await page.content()).not.toContain(secret)
    expect(page.url()).not.toContain(secret)
    expect(await page.getByRole('alert').count()).toBe(0) // no word about the missing event stream
  })

  it("shows quotas in use and ended reasons, following the gateway's counts", async () => {
    await quotasCard().getByText('1 of 2 sessions open').waitFor()
    await quotasCard().getByText('1 of 30 creates in the last minute').waitFor()
    await quotasCard().getByText('Per user (at most 10 each)').waitFor()
    // the keys table follows the open sessions too (its 6th column)
    await waitFor(async () => (await keysCard().locator('tbody tr').first().locator('td').nth(5).innerText()) === '1', 10_000, 'the key to count its session')
    const s = await admin.sessions.create({ user: 'bob' })
    await s.end()
    const ended = page.getByRole('region', { name: 'Ended sessions' })
    await ended.locator('.uplot').waitFor()
    await ended.getByText('Last 24 hours: 1 terminated.').waitFor()
    await quotasCard().getByText('ci-1').waitFor()
    expect(await quotasCard().getByText('bob').count()).toBe(0) // ended: no open sessions
    await page.screenshot({ path: join(shots, 'dashboard-keys.png'), fullPage: true })
  })

  it('rotates and revokes from the panel', async () => {
    await keysCard().getByRole('button', { name: 'Rotate the key ci' }).click()
    const rotated = (await page.getByLabel('The new secret').innerText()).trim()
    expect(rotated).toMatch(/^ilk_/)
    expect(rotated).not.toBe(secret)
    await expect(new InfraLab({ url: gw.url, apiKey: secret }).sessions.list()).rejects.toMatchObject({ status: 401 })
    secret = rotated
    await keysCard().getByRole('button', { name: 'Revoke the key ci' }).click()
    await keysCard().getByRole('cell', { name: /^revoked / }).waitFor()
    expect(await keysCard().getByRole('button', { name: 'Revoke the key ci' }).count()).toBe(0)
    await expect(new InfraLab({ url: gw.url, apiKey: rotated }).sessions.list()).rejects.toMatchObject({ status: 401 })
  })

  it('shows a scoped key its own quota and no keys panel', async () => {
    const team = await admin.keys.create({ name: 'team-a', users: ['team-a-*'], maxSessions: 3 })
    await signIn(team.key)
    await quotasCard().getByRole('heading', { name: 'This key' }).waitFor()
    await quotasCard().getByText('0 of 3 sessions open').waitFor()
    await page.getByText(/^Updated /).waitFor()
    expect(await page.getByRole('heading', { name: 'API keys' }).count()).toBe(0)
    expect(await quotasCard().getByText('ci', { exact: true }).count()).toBe(0)
  })
})
