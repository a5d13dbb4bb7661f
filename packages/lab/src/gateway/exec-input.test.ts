// Bad input on every field of the exec, process and file routes: each is refused at the edge with
// the API's error body, naming the field, before anything reaches a sandbox's agent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { auth, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>
const json = { ...auth, 'content-type': 'application/json' }
const raw = { ...auth, 'content-type': 'application/octet-stream' }
const PROC = 'proc-aaaaaaaaaaaaaaaaaaaa'

describe('exec and file routes refuse bad input', () => {
  let gw: Gw
  let id: string
  let ended: string

  beforeAll(async () => {
    gw = await startTestGateway(new FakeDriver(), { maxUploadBytes: 1024, pools: [{ name: 'default', policy: { kind: 'fixed', size: 2 }, maxSize: 6 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 2, 5000, 'pool to fill')
    const create = async (user: string) => (await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: json, payload: { user } })).json().id as string
    id = await create('alice')
    ended = await create('bob')
    expect((await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${ended}`, headers: auth })).statusCode).toBe(204)
  })
  afterAll(async () => {
    await gw?.cleanup()
  })

  const exec = (body: unknown, opts: { query?: string; headers?: Record<string, string>; session?: string } = {}) =>
    gw.app.inject({ method: 'POST', url: `/v1/sessions/${opts.session ?? id}/exec${opts.query ?? ''}`, headers: { ...json, ...opts.headers }, payload: typeof body === 'string' ? body : JSON.stringify(body) })

  async function refused(res: Awaited<ReturnType<typeof exec>>, status: number, code: string, field?: string) {
    expect(res.statusCode, res.body).toBe(status)
    const err = res.json().error
    expect(err.code).toBe(code)
    // a field inside a union or list is named by its path (`cmd.1`)
    if (field !== undefined) expect(err.details.map((d: { field: string }) => d.field.split('.').slice(0, field.split('.').length).join('.'))).toContain(field)
  }

  it('refuses every bad exec body field, naming it', async () => {
    const cases: Array<[unknown, string]> = [
      [{}, 'cmd'],
      [{ cmd: '' }, 'cmd'],
      [{ cmd: 42 }, 'cmd'],
      [{ cmd: [] }, 'cmd'],
      [{ cmd: ['ls', 7] }, 'cmd'],
      [{ cmd: 'echo a\u0000b' }, 'cmd'],
      [{ cmd: ['cat', '/etc/passwd\u0000'] }, 'cmd'],
      [{ cmd: 'x'.repeat(256 * 1024 + 1) }, 'cmd'],
      [{ cmd: 'é'.repeat(128 * 1024 + 1) }, 'cmd'],
      [{ cmd: ['echo', 'x'.repeat(128 * 1024), 'y'.repeat(128 * 1024)] }, 'cmd'],
      [{ cmd: Array.from({ length: 4097 }, () => 'x') }, 'cmd'],
      [{ cmd: 'ls', cwd: '' }, 'cwd'],
      [{ cmd: 'ls', cwd: '/tmp\u0000/x' }, 'cwd'],
      [{ cmd: 'ls', cwd: 'a'.repeat(4097) }, 'cwd'],
      [{ cmd: 'ls', cwd: '🦀'.repeat(1025) }, 'cwd'],
      [{ cmd: 'ls', env: { LD_PRELOAD: '/tmp/evil.so' } }, 'env.LD_PRELOAD'],
      [{ cmd: 'ls', env: { BASH_ENV: '/tmp/x' } }, 'env.BASH_ENV'],
      [{ cmd: 'ls', env: { INFRA_LAB_SESSION_ID: 'ses-other' } }, 'env.INFRA_LAB_SESSION_ID'],
      [{ cmd: 'ls', env: { 'BAD-NAME': '1' } }, 'env'],
      [{ cmd: 'ls', env: { BIG: 'x'.repeat(40 * 1024) } }, 'env.BIG'],
      [{ cmd: 'ls', env: Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`V${i}`, '1'])) }, 'env'],
      [{ cmd: 'ls', env: { NUL: 'a\u0000b' } }, 'env.NUL'],
      [{ cmd: 'ls', stdin: 7 }, 'stdin'],
      [{ cmd: 'ls', timeoutS: 0 }, 'timeoutS'],
      [{ cmd: 'ls', timeoutS: -1 }, 'timeoutS'],
      [{ cmd: 'ls', timeoutS: 3601 }, 'timeoutS'],
      [{ cmd: 'ls', timeoutS: '60' }, 'timeoutS'],
      [{ cmd: 'ls', background: 'yes' }, 'background'],
      [{ cmd: 'ls', tty: 1 }, 'tty'],
      [{ cmd: 'ls', user: 'root' }, 'user'],
    ]
    for (const [body, field] of cases) await refused(await exec(body), 400, 'validation_failed', field)
  })

  it('refuses a huge env beyond the body limit, bad JSON, other content types and no body', async () => {
    await refused(await exec({ cmd: 'ls', env: { BIG: 'x'.repeat(600 * 1024) } }), 413, 'body_too_large')
    await refused(await exec('{"cmd": '), 400, 'invalid_json')
    await refused(await exec('cmd=ls', { headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type')
    await refused(await exec('ls', { headers: { 'content-type': 'text/plain' } }), 415, 'unsupported_media_type')
    await refused(await gw.app.inject({ method: 'POST', url: `/v1/sessions/${id}/exec`, headers: auth }), 400, 'validation_failed', 'body')
  })

  it('refuses a bad encoding, unknown query parameters and bad idempotency keys', async () => {
    await refused(await exec({ cmd: 'ls' }, { query: '?encoding=hex' }), 400, 'validation_failed', 'encoding')
    await refused(await exec({ cmd: 'ls' }, { query: '?shell=zsh' }), 400, 'validation_failed', 'shell')
    for (const key of ['', 'has space', 'x'.repeat(256), 'ключ']) {
      await refused(await exec({ cmd: 'ls' }, { headers: { 'idempotency-key': key } }), 400, 'validation_failed', 'idempotency-key')
    }
    await refused(await exec({ cmd: 'ls' }, { headers: { 'idempotency-key': 'k1', accept: 'text/event-stream' } }), 400, 'validation_failed', 'idempotency-key')
  })

  it('refuses malformed session and process ids', async () => {
    await refused(await exec({ cmd: 'ls' }, { session: '..%2F..%2Fetc' }), 400, 'validation_failed', 'id')
    for (const p of ['proc-', 'PROC-AAAA', 'proc-a%2F..%2Fb', `proc-${'a'.repeat(33)}`, '..', 'proc-a.b']) {
      for (const [method, tail] of [['GET', 'output'], ['POST', 'signal']] as const) {
        const res = await gw.app.inject({ method, url: `/v1/sessions/${id}/processes/${p}/${tail}`, headers: json, ...(method === 'POST' ? { payload: '{"signal":"SIGTERM"}' } : {}) })
        expect([400, 404], `${method} ${p}/${tail}: ${res.body}`).toContain(res.statusCode)
        if (res.statusCode === 400) expect(res.json().error.details[0].field).toBe('processId')
        else expect(res.json().error.code).toBe('not_found')
      }
    }
  })

  it('refuses signals outside the four, and bad output and stdin queries', async () => {
    for (const signal of ['SIGSTOP', 'SIGUSR1', 'KILL', 9, '', null]) {
      const res = await gw.app.inject({ method: 'POST', url: `/v1/sessions/${id}/processes/${PROC}/signal`, headers: json, payload: JSON.stringify({ signal }) })
      await refused(res, 400, 'validation_failed', 'signal')
    }
    await refused(await gw.app.inject({ method: 'POST', url: `/v1/sessions/${id}/processes/${PROC}/signal`, headers: json, payload: '{"signal":"SIGTERM","pid":1}' }), 400, 'validation_failed', 'pid')
    await refused(await gw.app.inject({ method: 'GET', url: `/v1/sessions/${id}/processes/${PROC}/output?follow=yes`, headers: auth }), 400, 'validation_failed', 'follow')
    await refused(await gw.app.inject({ method: 'POST', url: `/v1/sessions/${id}/processes/${PROC}/stdin?close=maybe`, headers: raw, payload: 'x' }), 400, 'validation_failed', 'close')
  })

  it('takes stdin and uploads only as application/octet-stream', async () => {
    for (const url of [`/v1/sessions/${id}/processes/${PROC}/stdin`, `/v1/sessions/${id}/files?path=a.txt`]) {
      const method = url.includes('stdin') ? 'POST' : 'PUT'
      for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x']) {
        const res = await gw.app.inject({ method, url, headers: { ...auth, 'content-type': type }, payload: '{"a":1}' })
        await refused(res, 415, 'unsupported_media_type')
        expect(res.json().error.message).toContain('application/octet-stream')
      }
      await refused(await gw.app.inject({ method, url, headers: auth }), 415, 'unsupported_media_type')
    }
  })

  it('refuses bad file paths and flags', async () => {
    for (const method of ['GET', 'PUT', 'DELETE'] as const) {
      const headers = method === 'PUT' ? raw : auth
      for (const [query, field] of [['', 'path'], ['?path=', 'path'], ['?path=a%00b', 'path'], [`?path=${'a'.repeat(4097)}`, 'path'], ['?path=a&mode=0777', 'mode']] as const) {
        await refused(await gw.app.inject({ method, url: `/v1/sessions/${id}/files${query}`, headers, payload: method === 'PUT' ? 'x' : undefined }), 400, 'validation_failed', field)
      }
    }
    await refused(await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${id}/files?path=a&recursive=yes`, headers: auth }), 400, 'validation_failed', 'recursive')
  })

  it('refuses an upload whose content-length is beyond maxUploadBytes before reading it, and closes the connection', async () => {
    const res = await gw.app.inject({ method: 'PUT', url: `/v1/sessions/${id}/files?path=big.bin`, headers: raw, payload: Buffer.alloc(2048) })
    await refused(res, 413, 'upload_too_large')
    expect(res.headers.connection).toBe('close')
    const stdin = await gw.app.inject({ method: 'POST', url: `/v1/sessions/${id}/processes/${PROC}/stdin`, headers: raw, payload: Buffer.alloc(2048) })
    await refused(stdin, 413, 'upload_too_large')
  })

  it('answers 404 for an unknown session and 409 for an ended one on every route', async () => {
    const routes: Array<[string, string, string | Buffer | undefined, Record<string, string>]> = [
      ['POST', 'exec', '{"cmd":"ls"}', json],
      ['GET', 'processes', undefined, auth],
      ['GET', `processes/${PROC}/output`, undefined, auth],
      ['POST', `processes/${PROC}/signal`, '{"signal":"SIGTERM"}', json],
      ['POST', `processes/${PROC}/stdin`, 'x', raw],
      ['GET', 'files?path=a', undefined, auth],
      ['PUT', 'files?path=a', 'x', raw],
      ['DELETE', 'files?path=a', undefined, auth],
    ]
    for (const [method, tail, payload, headers] of routes) {
      const base = { method: method as 'GET', headers, ...(payload !== undefined ? { payload } : {}) }
      await refused(await gw.app.inject({ ...base, url: `/v1/sessions/ses-doesnotexist/${tail}` }), 404, 'session_not_found')
      await refused(await gw.app.inject({ ...base, url: `/v1/sessions/${ended}/${tail}` }), 409, 'session_ended')
    }
  })
})
