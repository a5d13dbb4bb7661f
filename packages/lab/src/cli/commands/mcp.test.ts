import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { mcpCommand } from './mcp.ts'

function io(env: Record<string, string> = {}) {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (d: Buffer) => (out += d.toString()))
  stderr.on('data', (d: Buffer) => (err += d.toString()))
  return { io: { cwd: '/tmp', env, stdout, stderr, stdin: new PassThrough() }, out: () => out, err: () => err }
}

describe('infra-lab mcp before it serves', () => {
  it('without a key says where it looked, exits 2, and writes nothing on stdout (the protocol channel)', async () => {
    const t = io()
    expect(await mcpCommand({ dataDir: '/nonexistent-dir' }, t.io, new AbortController().signal)).toBe(2)
    expect(t.err()).toMatch(/^infra-lab mcp: no API key: pass --key, set INFRA_LAB_API_KEY/)
    expect(t.out()).toBe('')
  })

  it('refuses a URL that is not http(s)', async () => {
    const t = io({ INFRA_LAB_API_KEY: 'k' })
    expect(await mcpCommand({ url: 'ftp://example.invalid' }, t.io, new AbortController().signal)).toBe(2)
    expect(t.err()).toMatch(/--url: .*http/)
    expect(t.out()).toBe('')
  })

  it('serves until stdin ends, then exits 0', async () => {
    const t = io({ INFRA_LAB_API_KEY: 'k' })
    const done = mcpCommand({ url: 'http://127.0.0.1:9' }, t.io, new AbortController().signal)
    t.io.stdin.end()
    expect(await done).toBe(0)
    expect(t.out()).toBe('')
  })
})
