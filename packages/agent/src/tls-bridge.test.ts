import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { afterAll, describe, expect, it } from 'vitest'
import { parseOptions } from './options.ts'
import { PSK_TLS, startTlsBridge, takePsk } from './tls-bridge.ts'

const dir = mkdtempSync(join(tmpdir(), 'agent-tls-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function dial(port: number, identity: string, psk: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ ...PSK_TLS, host: '127.0.0.1', port, checkServerIdentity: () => undefined, pskCallback: () => ({ identity, psk }) })
    let got = ''
    s.on('data', (d) => (got += d))
    s.on('end', () => resolve(got))
    s.on('error', reject)
  })
}

describe('TLS-PSK bridge', () => {
  it('relays an authenticated connection to the unix socket, and refuses a wrong key or identity', async () => {
    const socketPath = join(dir, 'a.sock')
    const unix = createServer((s) => s.end('hello from the agent'))
    await new Promise<void>((r) => unix.listen(socketPath, r))
    const psk = Buffer.alloc(32, 3)
    const { server, port } = await startTlsBridge({ host: '127.0.0.1', port: 0, socketPath, identity: 'sb-1', psk })
    try {
      await expect(dial(port, 'sb-1', psk)).resolves.toBe('hello from the agent')
      await expect(dial(port, 'sb-1', Buffer.alloc(32, 4))).rejects.toThrow()
      await expect(dial(port, 'sb-2', psk)).rejects.toThrow()
    } finally {
      server.close()
      unix.close()
    }
  })

  it('takes the key out of the environment so the shell never inherits it', () => {
    const env: NodeJS.ProcessEnv = { AGENT_TLS_PSK: 'ab'.repeat(32), PATH: '/bin' }
    expect(takePsk(env)?.length).toBe(32)
    expect(env).toEqual({ PATH: '/bin' })
    expect(() => takePsk({ AGENT_TLS_PSK: 'short' })).toThrow(/64 hex digits/)
  })

  it('--tls-port is optional and checked', () => {
    const base = ['--socket', '/run/a.sock', '--sandbox-id', 'x']
    expect(parseOptions(base)).toMatchObject({ options: { tlsHost: '0.0.0.0' } })
    expect('options' in parseOptions(base) && parseOptions(base)).not.toHaveProperty('options.tlsPort')
    expect(parseOptions([...base, '--tls-port', '7100'])).toMatchObject({ options: { tlsPort: 7100 } })
    expect(parseOptions([...base, '--tls-port', '0'])).toMatchObject({ errors: expect.arrayContaining(['--tls-port must be an integer from 1 to 65535']) })
  })
})
