import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo } from 'node:net'
import { connect } from 'node:tls'
import { beforeAll, describe, expect, it } from 'vitest'
import { SNIFF_LIMIT_BYTES, sniffHttpHost, sniffTlsServerName } from './sni.ts'

/** The ClientHello Node's TLS client really sends, caught by a plain TCP server on loopback. */
async function clientHello(servername: string | undefined): Promise<Buffer> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const caught = new Promise<Buffer>((resolve) => {
    server.once('connection', (socket) => {
      let bytes = Buffer.alloc(0)
      socket.on('data', (chunk) => {
        bytes = Buffer.concat([bytes, chunk])
        if (bytes.length >= 5 && bytes.length >= 5 + bytes.readUInt16BE(3)) {
          resolve(bytes)
          socket.destroy()
        }
      })
    })
  })
  const client = connect({ host: '127.0.0.1', port, ...(servername !== undefined ? { servername } : {}), rejectUnauthorized: false })
  client.on('error', () => undefined)
  const hello = await caught
  client.destroy()
  server.close()
  return hello
}

/** The same handshake split over two TLS records at `at` (legal, and what some stacks do). */
function fragmented(hello: Buffer, at: number): Buffer {
  const body = hello.subarray(5)
  const record = (part: Buffer): Buffer => {
    const header = Buffer.from([0x16, 0x03, 0x01, 0, 0])
    header.writeUInt16BE(part.length, 3)
    return Buffer.concat([header, part])
  }
  return Buffer.concat([record(body.subarray(0, at)), record(body.subarray(at))])
}

describe('sniffTlsServerName', () => {
  let hello: Buffer
  let helloNoSni: Buffer
  beforeAll(async () => {
    hello = await clientHello('Api.Example.test')
    helloNoSni = await clientHello(undefined)
  })

  it('reads the server name of a real ClientHello, lower-cased', () => {
    expect(sniffTlsServerName(hello)).toEqual({ status: 'complete', name: 'api.example.test' })
  })

  it('reports a ClientHello without SNI as complete with no name', () => {
    expect(sniffTlsServerName(helloNoSni)).toEqual({ status: 'complete', name: undefined })
  })

  it('asks for more on every truncation, and never names a host from a prefix', () => {
    for (let n = 0; n < hello.length; n++) expect(sniffTlsServerName(hello.subarray(0, n)).status, `prefix ${n}`).toBe('incomplete')
  })

  it('joins a ClientHello split over two records', () => {
    for (const at of [1, 3, 4, 40, hello.length - 10]) {
      expect(sniffTlsServerName(fragmented(hello, at)), `split at ${at}`).toEqual({ status: 'complete', name: 'api.example.test' })
    }
  })

  it('refuses what is not a TLS handshake, and claims of more than 16 KiB', () => {
    expect(sniffTlsServerName(Buffer.from('GET / HTTP/1.1\r\n')).status).toBe('invalid')
    expect(sniffTlsServerName(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff])).status).toBe('invalid')
    const huge = Buffer.from(hello)
    huge.writeUIntBE(SNIFF_LIMIT_BYTES, 6, 3) // the handshake claims 16 KiB
    expect(sniffTlsServerName(huge).status).toBe('invalid')
  })

  it('survives random bytes and random corruptions of a real ClientHello (fuzz)', () => {
    const statuses = new Set<string>()
    for (let i = 0; i < 3000; i++) {
      const random = randomBytes(1 + (i % 600))
      if (i % 2 === 0) random[0] = 0x16
      if (i % 4 === 0) random[1] = 0x03
      statuses.add(sniffTlsServerName(random).status)
      const mutated = Buffer.from(hello)
      for (let k = 0; k < 1 + (i % 8); k++) mutated[randomBytes(2).readUInt16BE(0) % mutated.length] = randomBytes(1)[0]!
      const r = sniffTlsServerName(mutated.subarray(0, mutated.length - (i % 50)))
      statuses.add(r.status)
      if (r.status === 'complete' && r.name !== undefined) expect(r.name).toMatch(/^[a-z0-9_.-]+$/)
    }
    expect([...statuses].every((s) => ['incomplete', 'invalid', 'complete'].includes(s))).toBe(true)
  })
})

describe('sniffHttpHost', () => {
  const head = (s: string): Buffer => Buffer.from(s)

  it('reads the Host header, dropping the port', () => {
    expect(sniffHttpHost(head('GET /x HTTP/1.1\r\nUser-Agent: t\r\nHost: Example.TEST:8080\r\n\r\n'))).toEqual({ status: 'complete', name: 'example.test' })
  })

  it('gives no name for an IP literal or a missing Host', () => {
    expect(sniffHttpHost(head('GET / HTTP/1.1\r\nHost: 203.0.113.5\r\n\r\n'))).toEqual({ status: 'complete', name: undefined })
    expect(sniffHttpHost(head('GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n'))).toEqual({ status: 'complete', name: undefined })
    expect(sniffHttpHost(head('GET / HTTP/1.0\r\n\r\n'))).toEqual({ status: 'complete', name: undefined })
  })

  it('waits for the end of the head, refuses garbage, two Hosts and heads over 16 KiB', () => {
    expect(sniffHttpHost(head('GET / HTTP/1.1\r\nHost: exa')).status).toBe('incomplete')
    expect(sniffHttpHost(head('\x00\x01binary')).status).toBe('invalid')
    expect(sniffHttpHost(head('hello world\r\n\r\n')).status).toBe('invalid')
    expect(sniffHttpHost(head('GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n')).status).toBe('invalid')
    expect(sniffHttpHost(head(`GET / HTTP/1.1\r\nX: ${'a'.repeat(SNIFF_LIMIT_BYTES)}`)).status).toBe('invalid')
  })

  it('survives random bytes (fuzz)', () => {
    for (let i = 0; i < 2000; i++) {
      const r = sniffHttpHost(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\n'), randomBytes(i % 300), Buffer.from(i % 3 ? '\r\n\r\n' : '')]))
      expect(['incomplete', 'invalid', 'complete']).toContain(r.status)
    }
  })
})
