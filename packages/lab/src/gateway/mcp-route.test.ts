// /mcp on a gateway listening on 127.0.0.1, driven by the MCP SDK's own Streamable HTTP client.
// The fake driver has no sandboxes to run commands in: here the endpoint, its key and the
// session tools; test/mcp.test.ts calls every tool against real sandboxes.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { FakeDriver } from '../drivers/fake/fake-driver.ts'
import { call, errorOf, expectToolsListed, okOf } from '../../test/mcp-tools.test-util.ts'
import { TEST_KEY, startTestGateway, waitFor } from './test-gateway.test-util.ts'

type Gw = Awaited<ReturnType<typeof startTestGateway>>

describe('the MCP endpoint /mcp', () => {
  let gw: Gw
  const clients: Client[] = []

  beforeAll(async () => {
    gw = await startTestGateway(new FakeDriver(), { pools: [{ name: 'default', policy: { kind: 'fixed', size: 1 }, maxSize: 2 }] })
    await waitFor(() => gw.pools.get('default')!.controller.status().ready >= 1, 5000, 'pool to fill')
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
  })
  afterAll(async () => {
    await gw?.cleanup()
  })

  function transport(key: string | undefined) {
    return new StreamableHTTPClientTransport(new URL(`${gw.url}/mcp`), key === undefined ? {} : { requestInit: { headers: { authorization: `Bearer ${key}` } } })
  }
  async function connect(key: string | undefined = TEST_KEY): Promise<Client> {
    const client = new Client({ name: 'mcp-route-test', version: '1.0.0' })
    await client.connect(transport(key))
    clients.push(client)
    return client
  }

  it('lists the six tools with input and output schemas and descriptions', async () => {
    const client = await connect()
    expect(client.getServerVersion()).toMatchObject({ name: 'infra-lab' })
    expect(client.getInstructions()).toContain('create_session')
    await expectToolsListed(client)
  })

  it('creates and ends a session through the API in-process, with the caller\'s key', async () => {
    const client = await connect()
    const made = okOf<{ sessionId: string; user: string; pool: string; warm: boolean }>(await call(client, 'create_session', { user: 'mcp-alice' }))
    expect(made).toMatchObject({ user: 'mcp-alice', pool: 'default', warm: true })
    expect((await gw.store.getSession(made.sessionId))?.user).toBe('mcp-alice')
    expect(okOf(await call(client, 'end_session', { sessionId: made.sessionId }))).toEqual({ sessionId: made.sessionId, ended: true })
    await waitFor(async () => (await gw.store.getSession(made.sessionId))?.state === 'ended', 5000, 'ended')
    expect(okOf(await call(client, 'end_session', { sessionId: made.sessionId }))).toEqual({ sessionId: made.sessionId, ended: true })
  })

  it('tells an agent whose session has ended to create a new one, from every tool', async () => {
    const client = await connect()
    const { sessionId } = okOf<{ sessionId: string }>(await call(client, 'create_session', { user: 'mcp-late' }))
    okOf(await call(client, 'end_session', { sessionId }))
    for (const [tool, args] of [
      ['exec', { cmd: 'true' }], ['read_file', { path: 'a' }], ['write_file', { path: 'a', content: 'x' }], ['list_files', {}],
    ] as const) {
      expect(errorOf(await call(client, tool, { sessionId, ...args })), tool).toMatch(new RegExp(`^session_ended: Session ${sessionId} has ended.*create_session`))
    }
  })

  it('answers bad arguments and unknown sessions with tool errors that say what to do', async () => {
    const client = await connect()
    expect(errorOf(await call(client, 'create_session', {}))).toMatch(/^validation_failed: user is required/)
    expect(errorOf(await call(client, 'create_session', { user: '../etc' }))).toMatch(/user/)
    expect(errorOf(await call(client, 'create_session', { user: 'bob', pool: 'nope' }))).toMatch(/^pool_not_found: .*Omit pool/)
    expect(errorOf(await call(client, 'end_session', { sessionId: 'ses-unknown0' }))).toMatch(/^session_not_found: .*create_session/)
    expect(errorOf(await call(client, 'end_session', { sessionId: 'not/an/id' }))).toMatch(/^validation_failed: "not\/an\/id" is not a session id/)
    expect(errorOf(await call(client, 'exec', { sessionId: 'ses-unknown0' }))).toMatch(/cmd/)
  })

  it('takes a write_file up to 4 MiB (above the JSON routes\' body limit) and refuses more with a way out', async () => {
    const client = await connect()
    const big = 'x'.repeat(4 * 1024 * 1024 + 1)
    expect(errorOf(await call(client, 'write_file', { sessionId: 'ses-unknown0', path: 'big.txt', content: big }))).toMatch(/^validation_failed: content is 4194305 bytes; write_file takes at most 4194304 .*infra-lab cp/)
    expect(errorOf(await call(client, 'write_file', { sessionId: 'ses-unknown0', path: 'big.txt', content: big.slice(1) }))).toMatch(/^session_not_found: /)
    const res = await fetch(`${gw.url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'write_file', arguments: { content: 'x'.repeat(9 * 1024 * 1024) } } }),
    })
    expect(res.status).toBe(413)
  })

  it('says when to retry when the pool is full', async () => {
    const client = await connect()
    const held = [okOf<{ sessionId: string }>(await call(client, 'create_session', { user: 'u1' })), okOf<{ sessionId: string }>(await call(client, 'create_session', { user: 'u2' }))]
    const full = errorOf(await call(client, 'create_session', { user: 'u3' }))
    expect(full).toMatch(/^capacity_exhausted: .* Retry after [1-9][0-9]* s\.$/)
    for (const s of held) okOf(await call(client, 'end_session', { sessionId: s.sessionId }))
  })

  it('refuses a caller without the key, with a wrong key, or with an attach token, and creates nothing', async () => {
    const before = (await gw.store.listSessions()).length
    const created = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { authorization: `Bearer ${TEST_KEY}`, 'content-type': 'application/json' }, payload: { user: 'victim' } })
    const token = created.json().attach.token as string
    for (const key of [undefined, `${TEST_KEY}x`, token]) {
      const client = new Client({ name: 'intruder', version: '1.0.0' })
      await expect(client.connect(transport(key)), String(key)).rejects.toMatchObject({ code: 401 })
      // and a tool call sent straight away, without the handshake, is refused the same way
      const res = await fetch(`${gw.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'create_session', arguments: { user: 'mallory' } } }),
      })
      expect(res.status).toBe(401)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unauthorized')
    }
    expect((await gw.store.listSessions()).length).toBe(before + 1)
    await gw.app.inject({ method: 'DELETE', url: `/v1/sessions/${created.json().id}`, headers: { authorization: `Bearer ${TEST_KEY}` } })
  })

  it('is stateless: GET and DELETE answer 405 (after the key check)', async () => {
    for (const method of ['GET', 'DELETE'] as const) {
      expect((await fetch(`${gw.url}/mcp`, { method })).status).toBe(401)
      const res = await fetch(`${gw.url}/mcp`, { method, headers: { authorization: `Bearer ${TEST_KEY}`, accept: 'text/event-stream' } })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe('POST')
    }
  })

  it('is documented in /openapi.json as keyed', async () => {
    const doc = (await gw.app.inject('/openapi.json')).json() as { paths: Record<string, Record<string, { security: unknown[] }>> }
    expect(doc.paths['/mcp']!.post!.security).toEqual([{ apiKey: [] }])
  })
})
