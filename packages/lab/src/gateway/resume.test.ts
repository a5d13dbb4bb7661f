import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { LabClient } from '../client/client.ts'
import { loadGatewayConfig } from '../config/load.ts'
import { FakeDriver, FakeHost } from '../drivers/fake/fake-driver.ts'
import { startGateway, type StartedGateway } from './gateway.ts'
import { waitFor } from './test-gateway.test-util.ts'

const KEY = 'resume-key-0123456789abcdef'

/** Opens the terminal and reports how the server answered: 101 (open) or the HTTP status and body. */
function tryTerminal(url: string, path: string, token: string): Promise<{ status: number; retryAfter?: string; code?: string; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}${path}?token=${token}`)
    ws.once('open', () => resolve({ status: 101, ws }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, code: JSON.parse(body).error?.code }))
    })
    ws.once('error', (err) => (err.message.includes('Unexpected server response') ? undefined : reject(err)))
  })
}

describe('after a restart, sessions are resumed behind an open port, each agent on its own clock', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'infra-lab-resume-'))
  writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ driver: 'fake', pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 8 }] }))
  const host = new FakeHost()
  const gateways: StartedGateway[] = []
  const start = async (): Promise<StartedGateway> => {
    const loaded = loadGatewayConfig({ config: join(dataDir, 'config.json'), dataDir, port: 0 }, { INFRA_LAB_API_KEY: KEY }, dataDir)
    if (!loaded.ok) throw new Error(loaded.errors.join('; '))
    const driver = new FakeDriver({ host })
    const gw = await startGateway({ config: loaded.config, logger: pino({ level: 'silent' }), makeDriver: async () => driver, sweepIntervalMs: 100 })
    gateways.push(gw)
    return gw
  }
  afterAll(async () => {
    for (const gw of gateways) await gw.stop()
    await new FakeDriver({ host }).teardown()
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('a hung agent delays only its own session: its attach gets 503 session_unavailable with Retry-After, the others attach at once', async () => {
    const gw1 = await start()
    const c1 = new LabClient(gw1.url, KEY)
    const hung = await c1.createSession({ user: 'hung' })
    const fine = await c1.createSession({ user: 'fine' })
    await waitFor(async () => (await c1.getSession(hung.id)).state === 'running' && (await c1.getSession(fine.id)).state === 'running', 5000, 'both sessions running')
    const hungSandbox = (await gw1.store.getSession(hung.id))!.sandboxId!
    await gw1.stop()
    host.live.get(hungSandbox)!.agent.silence()

    const gw2 = await start() // returns with the port open, although one agent will not answer for seconds
    const c2 = new LabClient(gw2.url, KEY)
    expect((await gw2.app.inject('/healthz')).statusCode).toBe(200)
    expect((await c2.getSession(hung.id)).state).toBe('running')

    const ok = await tryTerminal(gw2.url, `/v1/sessions/${fine.id}/terminal`, (await c2.attach(fine.id)).token)
    expect(ok.status).toBe(101)
    ok.ws!.terminate()

    // the terminal, a command and a file all wait for the same bounded resume, then 503
    const token = (await c2.attach(hung.id)).token
    const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }
    const [refused, exec, file] = await Promise.all([
      tryTerminal(gw2.url, `/v1/sessions/${hung.id}/terminal`, token),
      fetch(`${gw2.url}/v1/sessions/${hung.id}/exec`, { method: 'POST', headers, body: '{"cmd":"true"}' }),
      fetch(`${gw2.url}/v1/sessions/${hung.id}/files?path=a`, { headers }),
    ])
    expect(refused).toMatchObject({ status: 503, code: 'session_unavailable', retryAfter: '1' })
    for (const res of [exec, file]) {
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toBe('1')
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('session_unavailable')
    }

    // Its agent never answers: the bounded wait ends the session, and its sandbox goes.
    await waitFor(async () => (await c2.getSession(hung.id)).state === 'ended', 15_000, 'the hung session to end')
    expect((await c2.getSession(hung.id)).endedReason).toBe('sandbox_lost')
    await waitFor(() => !host.live.has(hungSandbox), 5000, 'the hung sandbox to be destroyed')
    expect((await c2.getSession(fine.id)).state).toBe('running')
  }, 30_000)
})
