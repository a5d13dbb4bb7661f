import { request } from 'node:http'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { localDriverSkipReason } from '../src/drivers/local/test-support.ts'
import { KEY, runCli, runGateway, type RunningGateway } from './gateway-process.test-util.ts'

const MiB = 1024 * 1024
/** What the gateway may grow by while a body streams through it: the issue's bound for a 1 GiB upload. */
const RSS_BUDGET_BYTES = 64 * MiB
const LIMIT = 256 * MiB

/** The gateway's peak RSS since the last reset (VmHWM), and a reset of it (clear_refs 5). */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m![1]) * 1024
}
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5')
}

interface Sent { status: number | undefined; body: string; sentBytes: number; connection: string | undefined }

/**
 * PUT a body of `total` bytes, produced as it goes, honouring backpressure; stops writing once the
 * answer arrives (a refused upload is not read further, and the gateway closes the connection).
 */
/**
 * PUTs `total` bytes. With `headersFirst`, the headers go alone and the body only if no answer came
 * within 500 ms: an answer to the headers (413 on content-length) is then read before any body
 * write can hit the closed socket (EPIPE) and lose it.
 */
function upload(url: string, path: string, total: number, headers: Record<string, string> = {}, headersFirst = false): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(MiB, 0x5a)
    let sent = 0
    let answered: Sent | undefined
    const req = request(`${url}${path}`, { method: 'PUT', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/octet-stream', ...headers } }, (res) => {
      let body = ''
      answered = { status: res.statusCode, body: '', sentBytes: sent, connection: res.headers.connection }
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({ ...answered!, body }))
    })
    req.on('error', (err) => (answered ? undefined : reject(err)))
    const pump = () => {
      while (!answered && sent < total) {
        const n = Math.min(chunk.length, total - sent)
        sent += n
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void req.once('drain', pump)
      }
      if (!answered) req.end()
    }
    if (!headersFirst) return pump()
    req.flushHeaders()
    setTimeout(() => { if (!answered) pump() }, 500)
  })
}

const skip = localDriverSkipReason()
describe.skipIf(skip !== undefined)(`uploads stream through the gateway process${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'infra-lab-upload-'))
  let gw: RunningGateway
  let files: string

  beforeAll(async () => {
    gw = await runGateway(dataDir, { driver: 'local', maxUploadBytes: LIMIT, pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 } }] })
    const s = await gw.client.createSession({ user: 'uploader' })
    files = `/v1/sessions/${s.id}/files?path=`
  }, 60_000)
  afterAll(async () => {
    gw?.child.kill('SIGKILL')
    await runCli(['gateway', '--config', join(dataDir, 'config.json'), '--data-dir', dataDir, '--teardown'])
    rmSync(dataDir, { recursive: true, force: true })
  })

  it('takes an upload just under --max-upload-bytes without holding it: peak RSS grows by less than 64 MiB', async () => {
    resetPeak(gw.child.pid!)
    const before = peakRss(gw.child.pid!)
    const res = await upload(gw.url, `${files}big.bin`, LIMIT - MiB, { 'content-length': String(LIMIT - MiB) })
    expect(res.status, res.body).toBe(201)
    expect(JSON.parse(res.body)).toMatchObject({ size: LIMIT - MiB })
    expect(peakRss(gw.child.pid!) - before).toBeLessThan(RSS_BUDGET_BYTES)
  }, 300_000)

  it('refuses a declared content-length beyond the limit at once: 413, connection closed, nothing read', async () => {
    const res = await upload(gw.url, `${files}declared.bin`, 4 * MiB, { 'content-length': String(8 * 1024 * MiB) }, true)
    expect(res.status).toBe(413)
    expect(JSON.parse(res.body).error.code).toBe('upload_too_large')
    expect(res.connection).toBe('close')
  }, 60_000)

  it('stops a chunked upload that passes the limit midway: 413, no file, and peak RSS grows by less than 64 MiB', async () => {
    resetPeak(gw.child.pid!)
    const before = peakRss(gw.child.pid!)
    const res = await upload(gw.url, `${files}chunked.bin`, 1024 * MiB)
    expect(res.status, res.body).toBe(413)
    expect(JSON.parse(res.body).error.code).toBe('upload_too_large')
    expect(res.sentBytes).toBeLessThan(1024 * MiB)
    expect(peakRss(gw.child.pid!) - before).toBeLessThan(RSS_BUDGET_BYTES)
    const got = await fetch(`${gw.url}${files}chunked.bin`, { headers: { authorization: `Bearer ${KEY}` } })
    expect(got.status).toBe(404)
    const dir = (await (await fetch(`${gw.url}${files}.`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { entries: Array<{ name: string }> }
    expect(dir.entries.map((e) => e.name).filter((n) => n.includes('chunked'))).toEqual([])
  }, 300_000)
})
