/**
 * The sandbox's DNS server: A and AAAA for names its policy may allow, resolved by the proxy's
 * own resolver, always-denied addresses dropped, short TTLs (a policy change is felt quickly);
 * NXDOMAIN for names it may not reach. The answer is only a convenience: the proxy judges every
 * connection again on the address it dials.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { createServer, isIPv4, type Server, type Socket } from 'node:net'
import dnsPacket from 'dns-packet'
import type { Logger } from 'pino'
import { normalizeHostName } from '../spec/network-policy.ts'
import { normalizeAddress } from './addresses.ts'
import type { Resolver } from './resolver.ts'
import type { Session } from './session.ts'

export const DNS_TTL_S = 5
/** Larger messages are dropped unread (a query is a few dozen bytes). */
export const MAX_DNS_MESSAGE_BYTES = 4096
/** Queries in progress across all sources; more are dropped (the client retries). */
export const MAX_PENDING_QUERIES = 512
/** Most records in one answer: it stays well under 512 bytes, so UDP never needs truncation. */
export const MAX_DNS_ANSWERS = 8
/** A DNS-over-TCP connection idle this long is closed. */
const TCP_IDLE_MS = 10_000
const MAX_TCP_CONNECTIONS = 256
const MAX_TCP_IN_FLIGHT = 8

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const

export interface DnsDeps {
  readonly sessionFor: (source: string) => Session | undefined
  readonly resolver: Resolver
  readonly logger: Logger
}

function reply(query: dnsPacket.DecodedPacket, rcode: number, answers: dnsPacket.Answer[] = []): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: query.id ?? 0,
    flags: ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | rcode,
    questions: query.questions ?? [],
    answers,
  })
}

/** The answer to one DNS message from `source`, or undefined to stay silent (not a query, unreadable). */
export async function answerDns(message: Buffer, source: string, deps: DnsDeps): Promise<Buffer | undefined> {
  if (message.length < 12 || message.length > MAX_DNS_MESSAGE_BYTES) return undefined
  let query: dnsPacket.DecodedPacket
  try {
    query = dnsPacket.decode(message)
  } catch {
    return undefined
  }
  if (query.type !== 'query') return undefined
  const session = deps.sessionFor(source)
  if (!session) return reply(query, RCODE.REFUSED)
  const questions = query.questions ?? []
  if (questions.length !== 1) return reply(query, RCODE.FORMERR)
  const q = questions[0]!
  if (q.class !== 'IN') return reply(query, RCODE.NOTIMP)
  const name = normalizeHostName(q.name)
  if (!name) return reply(query, RCODE.NXDOMAIN)
  const policy = session.policy
  if (!policy.allowsNameAtAll(name)) {
    const verdict = policy.judgeName(name, 0)
    session.recordDenied({ host: name, port: 53, reason: verdict.allowed ? 'not_allowed' : verdict.reason, via: 'dns' })
    return reply(query, RCODE.NXDOMAIN)
  }
  if (q.type !== 'A' && q.type !== 'AAAA') return reply(query, RCODE.NOERROR) // no data of other types
  let found: string[]
  try {
    found = await deps.resolver.resolve(name)
  } catch (err) {
    return reply(query, (err as NodeJS.ErrnoException).code === 'ENOTFOUND' ? RCODE.NXDOMAIN : RCODE.SERVFAIL)
  }
  const wantV4 = q.type === 'A'
  const ofFamily = found.map((a) => normalizeAddress(a)).filter((a): a is string => a !== undefined && isIPv4(a) === wantV4)
  const allowed = ofFamily.filter((a) => policy.allowsAddressAtAll(a, name))
  if (allowed.length === 0 && ofFamily.length > 0) {
    const verdict = policy.judgeAddress(ofFamily[0]!, 443, name)
    session.recordDenied({ host: name, address: ofFamily[0]!, port: 53, reason: verdict.allowed ? 'not_allowed' : verdict.reason, via: 'dns' })
  }
  return reply(query, RCODE.NOERROR, allowed.slice(0, MAX_DNS_ANSWERS).map((data) => ({ type: q.type as 'A' | 'AAAA', class: 'IN' as const, name: q.name, ttl: DNS_TTL_S, data })))
}

export interface DnsServer {
  readonly port: number
  close(): Promise<void>
}

/** UDP and TCP on one port of `host` (port 0: the same ephemeral port for both). */
export async function startDnsServer(host: string, port: number, deps: DnsDeps): Promise<DnsServer> {
  let pending = 0
  const answer = async (msg: Buffer, source: string): Promise<Buffer | undefined> => {
    if (pending >= MAX_PENDING_QUERIES) return undefined
    pending += 1
    try {
      return await answerDns(msg, source, deps)
    } catch (err) {
      deps.logger.warn({ err: (err as Error).message }, 'egress: DNS answer failed')
      return undefined
    } finally {
      pending -= 1
    }
  }

  for (let attempt = 0; ; attempt++) {
    const udp = createSocket({ type: isIPv4(host) ? 'udp4' : 'udp6' })
    udp.on('error', (err) => deps.logger.warn({ err: err.message }, 'egress: DNS UDP socket error'))
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject)
      udp.bind(port, host, () => {
        udp.off('error', reject)
        resolve()
      })
    })
    const bound = udp.address().port
    const { server: tcp, destroyAll } = tcpServer(answer, deps.logger)
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject)
        tcp.listen(bound, host, () => {
          tcp.off('error', reject)
          resolve()
        })
      })
    } catch (err) {
      udp.close()
      // An ephemeral UDP port whose TCP twin is taken: pick another pair.
      if (port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 10) continue
      throw err
    }
    serveUdp(udp, answer)
    return {
      port: bound,
      close: () => new Promise<void>((resolve) => {
        udp.close()
        tcp.close(() => resolve())
        destroyAll()
      }),
    }
  }
}

function serveUdp(udp: UdpSocket, answer: (msg: Buffer, source: string) => Promise<Buffer | undefined>): void {
  udp.on('message', (msg, rinfo) => {
    void answer(msg, rinfo.address).then((out) => {
      if (out) udp.send(out, rinfo.port, rinfo.address, () => undefined)
    })
  })
}

function tcpServer(answer: (msg: Buffer, source: string) => Promise<Buffer | undefined>, logger: Logger): { server: Server; destroyAll: () => void } {
  const sockets = new Set<Socket>()
  const server = createServer((socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    let buffered = Buffer.alloc(0)
    let inFlight = 0
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy())
    socket.on('error', () => socket.destroy())
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk])
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0)
        if (len > MAX_DNS_MESSAGE_BYTES || inFlight >= MAX_TCP_IN_FLIGHT) {
          socket.destroy()
          return
        }
        if (buffered.length < 2 + len) break
        const msg = buffered.subarray(2, 2 + len)
        buffered = buffered.subarray(2 + len)
        inFlight += 1
        void answer(Buffer.from(msg), socket.remoteAddress ?? '').then((out) => {
          inFlight -= 1
          if (!out || socket.destroyed) return
          const framed = Buffer.alloc(2 + out.length)
          framed.writeUInt16BE(out.length, 0)
          out.copy(framed, 2)
          socket.write(framed)
        })
      }
      if (buffered.length > 2 + MAX_DNS_MESSAGE_BYTES) socket.destroy()
    })
  })
  server.maxConnections = MAX_TCP_CONNECTIONS
  server.on('error', (err) => logger.warn({ err: err.message }, 'egress: DNS TCP server error'))
  return { server, destroyAll: () => sockets.forEach((s) => s.destroy()) }
}
