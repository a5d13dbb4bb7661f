/**
 * The splice(2) relay over real loopback TCP: a client `c` talks to a listener whose accepted
 * socket `a` is joined by the relay to `b`, a connection to an upstream server whose side is
 * `u`. So c <-> a ==relay== b <-> u, and the test watches c and u.
 */
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { handOffToSplice, spliceRelayCounts, spliceRelaySupported, startSpliceRelay, tcpCongestion, type SpliceRelay } from './splice-relay.ts'

const supported = spliceRelaySupported()

/** A loopback server that hands out its accepted sockets by the client's port. */
class Acceptor {
  readonly server: Server
  private readonly waiting = new Map<number, (s: Socket) => void>()
  private readonly early = new Map<number, Socket>()

  constructor() {
    this.server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => {
      s.on('error', () => undefined)
      const port = s.remotePort!
      const wake = this.waiting.get(port)
      if (wake) {
        this.waiting.delete(port)
        wake(s)
      } else {
        this.early.set(port, s)
      }
    })
  }

  listen(): Promise<number> {
    return new Promise((resolve) => this.server.listen(0, '127.0.0.1', () => resolve((this.server.address() as { port: number }).port)))
  }

  /** Connects to this server; returns the client socket and the accepted one. */
  async pair(): Promise<[client: Socket, accepted: Socket]> {
    const client = connect({ host: '127.0.0.1', port: (this.server.address() as { port: number }).port, allowHalfOpen: true })
    client.on('error', () => undefined)
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve)
      client.once('error', reject)
    })
    const port = client.localPort!
    const accepted = this.early.get(port) ?? await new Promise<Socket>((resolve) => this.waiting.set(port, resolve))
    this.early.delete(port)
    return [client, accepted]
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

let front: Acceptor
let back: Acceptor

/** The four sockets of one relayed connection, before the relay starts. */
async function sockets(): Promise<{ c: Socket; a: Socket; b: Socket; u: Socket }> {
  const [c, a] = await front.pair()
  const [b, u] = await back.pair()
  return { c, a, b, u }
}

interface Started {
  c: Socket
  u: Socket
  relay: SpliceRelay
  closes: () => number
  closed: Promise<void>
}

async function started(): Promise<Started> {
  const { c, a, b, u } = await sockets()
  let closes = 0
  let done!: () => void
  const closed = new Promise<void>((resolve) => { done = resolve })
  const relay = startSpliceRelay(a, b, () => {
    closes += 1
    done()
  })
  if (!relay) throw new Error('startSpliceRelay refused quiet sockets')
  expect(a.destroyed && b.destroyed).toBe(true)
  return { c, u, relay, closes: () => closes, closed }
}

/** Writes `total` random bytes in 64 KiB chunks with backpressure, then ends; resolves the SHA-256 of what it wrote. */
function send(socket: Socket, total: number): Promise<string> {
  const hash = createHash('sha256')
  const block = randomBytes(1 << 20)
  let sent = 0
  return new Promise((resolve, reject) => {
    socket.once('error', reject)
    const more = (): void => {
      while (sent < total) {
        const n = Math.min(65_536, total - sent)
        const off = (sent * 7) % (block.length - n) // shifting windows: no two chunks alike
        const chunk = block.subarray(off, off + n)
        hash.update(chunk)
        sent += n
        if (!socket.write(chunk)) {
          socket.once('drain', more)
          return
        }
      }
      socket.end(() => resolve(hash.digest('hex')))
    }
    more()
  })
}

/** Reads until the peer's EOF: the byte count and SHA-256. */
function receive(socket: Socket): Promise<{ bytes: number; sha: string }> {
  const hash = createHash('sha256')
  let bytes = 0
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length
      hash.update(chunk)
    })
    socket.once('end', () => resolve({ bytes, sha: hash.digest('hex') }))
    socket.once('error', reject)
    socket.resume()
  })
}

const whenClosed = (s: Socket): Promise<void> => new Promise((resolve) => {
  if (s.closed) resolve()
  else s.once('close', () => resolve())
})

/** Resolves once the relay's side of `s` is gone: EOF or a reset (the sockets allow half-open, so no close by itself). */
const whenCut = (s: Socket): Promise<void> => new Promise((resolve) => {
  if (s.readableEnded || s.closed) return resolve()
  s.once('end', () => resolve())
  s.once('close', () => resolve())
  s.resume()
})

const fdCount = (): number => readdirSync('/proc/self/fd').length

/** Waits until `cond` holds, at most `ms`. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, 10))
  }
  return true
}

beforeAll(async () => {
  front = new Acceptor()
  back = new Acceptor()
  await front.listen()
  await back.listen()
  if (!supported) return
  // One relay first: the native threads (and their epoll and event descriptors) exist from here on.
  const warm = await started()
  warm.c.end()
  warm.u.end()
  await warm.closed
  warm.c.destroy()
  warm.u.destroy()
})

afterAll(async () => {
  await front?.close()
  await back?.close()
})

describe.skipIf(!supported)('the splice relay', () => {
  it('carries 50 MB each way at once, byte for byte, and closes when both sides ended', async () => {
    const t = await started()
    const total = 50 * 1024 * 1024
    const [sentUp, sentDown, gotUp, gotDown] = await Promise.all([send(t.c, total), send(t.u, total), receive(t.u), receive(t.c)])
    expect(gotUp).toEqual({ bytes: total, sha: sentUp })
    expect(gotDown).toEqual({ bytes: total, sha: sentDown })
    await t.closed
    await Promise.all([whenClosed(t.c), whenClosed(t.u)])
    expect(t.relay.stats()).toEqual({ aToB: total, bToA: total, open: false })
    expect(t.closes()).toBe(1)
  })

  it('passes a half-close through and keeps the other direction', async () => {
    const t = await started()
    const atUpstream = receive(t.u)
    t.c.end() // the client is done sending, still reading
    expect(await atUpstream).toEqual({ bytes: 0, sha: createHash('sha256').digest('hex') })
    expect(t.relay.stats().open).toBe(true)
    const atClient = receive(t.c)
    const sent = await send(t.u, 3 * 1024 * 1024)
    expect(await atClient).toEqual({ bytes: 3 * 1024 * 1024, sha: sent })
    await t.closed
    expect(t.relay.stats()).toEqual({ aToB: 0, bToA: 3 * 1024 * 1024, open: false })
    expect(t.closes()).toBe(1)
  })

  it('close() ends both connections at once and onClose fires once', async () => {
    const t = await started()
    t.c.write('ping')
    await until(() => t.relay.stats().aToB === 4, 1_000)
    const began = performance.now()
    t.relay.close()
    t.relay.close()
    await Promise.all([whenCut(t.c), whenCut(t.u), t.closed])
    expect(performance.now() - began).toBeLessThan(500)
    t.c.destroy()
    t.u.destroy()
    t.relay.close() // after the end too: nothing happens
    await new Promise((r) => setTimeout(r, 100))
    expect(t.closes()).toBe(1)
    expect(t.relay.stats()).toMatchObject({ aToB: 4, open: false })
  })

  it('a peer that resets ends the relay and closes the other side', async () => {
    const idle = await started()
    idle.u.resetAndDestroy()
    await Promise.all([whenCut(idle.c), idle.closed])
    expect(idle.relay.stats().error).toBe('ECONNRESET')
    expect(idle.closes()).toBe(1)

    // mid-transfer: the client keeps sending into a connection whose far end is gone
    const busy = await started()
    busy.u.resume()
    const sending = send(busy.c, 64 * 1024 * 1024).catch((err: NodeJS.ErrnoException) => err.code)
    await until(() => busy.relay.stats().aToB > 1024 * 1024, 5_000)
    busy.u.resetAndDestroy()
    await Promise.all([whenCut(busy.c), busy.closed])
    expect(busy.relay.stats().error).toMatch(/^(ECONNRESET|EPIPE)$/)
    expect(await sending).toMatch(/^(ECONNRESET|EPIPE)$/)
    expect(busy.closes()).toBe(1)
  })

  it('runs many relays at once, each intact', async () => {
    const before = spliceRelayCounts()!.active
    const n = 200
    const relays = await Promise.all(Array.from({ length: n }, () => started()))
    expect(spliceRelayCounts()!.active).toBe(before + n)
    const size = 256 * 1024 + 17
    const results = await Promise.all(relays.map(async (t) => {
      const [up, down, gotUp, gotDown] = await Promise.all([send(t.c, size), send(t.u, size), receive(t.u), receive(t.c)])
      await t.closed
      return gotUp.sha === up && gotDown.sha === down && gotUp.bytes === size && gotDown.bytes === size && t.closes() === 1
    }))
    expect(results.every(Boolean)).toBe(true)
    expect(spliceRelayCounts()!.active).toBe(before)
  })

  it('leaks no descriptor: sockets and pipes are closed however a relay ends', async () => {
    const before = fdCount()
    const ends: Promise<void>[] = []
    for (let i = 0; i < 30; i++) {
      const t = await started()
      const kind = i % 3
      if (kind === 0) {
        t.c.end()
        t.u.end()
      } else if (kind === 1) {
        t.relay.close()
      } else {
        t.u.resetAndDestroy()
      }
      ends.push(Promise.all([t.closed, whenCut(t.c), whenCut(t.u)]).then(() => {
        t.c.destroy()
        t.u.destroy()
      }))
    }
    await Promise.all(ends)
    expect(await until(() => fdCount() === before, 2_000)).toBe(true)
  })

  it('refuses sockets with bytes buffered in JS, touching nothing; handOffToSplice forwards them first', async () => {
    const { c, a, b, u } = await sockets()
    u.write('banner\r\n') // the server speaks first, before the tunnel is joined
    b.resume()
    b.pause()
    expect(await until(() => b.readableLength > 0, 1_000)).toBe(true)
    expect(startSpliceRelay(a, b, () => undefined)).toBeUndefined()
    expect(a.destroyed || b.destroyed).toBe(false)

    let closed!: () => void
    const ended = new Promise<void>((resolve) => { closed = resolve })
    const relay = await handOffToSplice(a, b, closed)
    expect(relay).toBeDefined()
    const atClient = receive(c)
    const atUpstream = receive(u)
    u.end('after')
    c.end('hello')
    expect((await atUpstream).bytes).toBe(5)
    const got = await atClient
    expect(got).toEqual({ bytes: 13, sha: createHash('sha256').update('banner\r\nafter').digest('hex') })
    await ended
  })

  it('past its cap it refuses, and the sockets stay with the caller', async (ctx) => {
    const { max, active } = spliceRelayCounts()!
    expect(max).toBeGreaterThan(0)
    // a descriptor limit above 24k allows more relays (4096) than a test should open
    if (max > 2_000) ctx.skip()
    const running: Started[] = []
    for (let i = active; i < max; i++) running.push(await started())
    expect(spliceRelayCounts()!.active).toBe(max)
    const { c, a, b, u } = await sockets()
    expect(startSpliceRelay(a, b, () => undefined)).toBeUndefined()
    expect(a.destroyed || b.destroyed).toBe(false)
    // still a working connection for a JS relay
    a.pipe(b)
    b.pipe(a)
    const atU = receive(u)
    c.end('still here')
    expect((await atU).bytes).toBe(10)
    for (const s of [a, b, c, u]) s.destroy()
    for (const t of running) t.relay.close()
    await Promise.all(running.map((t) => t.closed))
    for (const t of running) {
      t.c.destroy()
      t.u.destroy()
    }
    expect(spliceRelayCounts()!.active).toBe(active)
  }, 60_000)
})

describe.skipIf(!supported)('tcpCongestion', () => {
  const hostDefault = readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim()
  const other = hostDefault === 'reno' ? 'cubic' : 'reno'

  it('reads and sets a connection\'s algorithm; a name the kernel does not know changes nothing', async () => {
    const [c, a] = await front.pair()
    try {
      expect(tcpCongestion(c)).toBe(hostDefault)
      expect(tcpCongestion(c, other)).toBe(other)
      expect(tcpCongestion(c, 'no-such-algorithm')).toBe(other)
      expect(tcpCongestion(a)).toBe(hostDefault)
    } finally {
      c.destroy()
      a.destroy()
    }
  })

  it('set on a listener, every accepted connection starts with it', async () => {
    const acceptor = new Acceptor()
    await acceptor.listen()
    try {
      expect(tcpCongestion(acceptor.server, other)).toBe(other)
      const [c, a] = await acceptor.pair()
      expect(tcpCongestion(a)).toBe(other)
      expect(tcpCongestion(c)).toBe(hostDefault)
      c.destroy()
      a.destroy()
    } finally {
      await acceptor.close()
    }
  })

  it('answers undefined for what has no TCP descriptor', () => {
    const idle = createServer()
    expect(tcpCongestion(idle)).toBeUndefined()
  })
})
