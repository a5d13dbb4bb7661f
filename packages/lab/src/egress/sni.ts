/**
 * What a connection redirected to the transparent port wants to reach, read from its first bytes
 * without answering: the SNI of a TLS ClientHello, or the Host of an HTTP/1 request head. Both
 * readers are bounded (SNIFF_LIMIT_BYTES) and total: garbage gives 'invalid', never an exception.
 */
import { normalizeHostName } from '../spec/network-policy.ts'

/** Most bytes read before giving up on finding a name. */
export const SNIFF_LIMIT_BYTES = 16 * 1024

export type Sniffed =
  | { readonly status: 'incomplete' }
  | { readonly status: 'invalid' }
  /** `name` undefined: a well-formed start that names no host (TLS without SNI, HTTP/1.0 without Host, an IP literal). */
  | { readonly status: 'complete'; readonly name: string | undefined }

const INCOMPLETE: Sniffed = { status: 'incomplete' }
const INVALID: Sniffed = { status: 'invalid' }
const complete = (raw: string | undefined): Sniffed => ({ status: 'complete', name: raw === undefined ? undefined : normalizeHostName(raw) })

const TLS_HANDSHAKE = 0x16
const CLIENT_HELLO = 0x01
const EXT_SERVER_NAME = 0x0000
const SNI_HOST_NAME = 0x00
const MAX_RECORD = 16_384 + 2048

/** Joins the handshake bytes of the leading TLS records up to the end of the ClientHello. */
function handshakeBytes(buf: Buffer): Buffer | Sniffed {
  const parts: Buffer[] = []
  let offset = 0
  let total = 0
  let need: number | undefined // the ClientHello's full length, once its 4-byte header is in
  for (;;) {
    if (need === undefined && total >= 4) {
      const head = Buffer.concat(parts)
      if (head[0] !== CLIENT_HELLO) return INVALID
      need = 4 + head.readUIntBE(1, 3)
      if (need > SNIFF_LIMIT_BYTES) return INVALID
    }
    if (need !== undefined && total >= need) return Buffer.concat(parts).subarray(0, need)
    if (buf.length < offset + 5) return buf.length >= SNIFF_LIMIT_BYTES ? INVALID : INCOMPLETE
    if (buf[offset] !== TLS_HANDSHAKE || buf[offset + 1] !== 0x03) return INVALID
    const len = buf.readUInt16BE(offset + 3)
    if (len === 0 || len > MAX_RECORD) return INVALID
    const end = offset + 5 + len
    if (buf.length < end) return end > SNIFF_LIMIT_BYTES ? INVALID : INCOMPLETE
    parts.push(buf.subarray(offset + 5, end))
    total += len
    offset = end
  }
}

/** The server name a TLS ClientHello at the start of `buf` asks for. */
export function sniffTlsServerName(buf: Buffer): Sniffed {
  if (buf.length === 0) return INCOMPLETE
  if (buf[0] !== TLS_HANDSHAKE) return INVALID
  const hs = handshakeBytes(buf)
  if (!Buffer.isBuffer(hs)) return hs
  // ClientHello body: version(2) random(32) session_id<1> cipher_suites<2> compression<1> extensions<2>
  let p = 4 + 2 + 32
  const skip = (lenBytes: 1 | 2): boolean => {
    if (p + lenBytes > hs.length) return false
    const len = lenBytes === 1 ? hs[p]! : hs.readUInt16BE(p)
    p += lenBytes + len
    return p <= hs.length
  }
  if (!skip(1) || !skip(2) || !skip(1)) return INVALID
  if (p === hs.length) return complete(undefined) // no extensions at all
  if (p + 2 > hs.length) return INVALID
  const extEnd = p + 2 + hs.readUInt16BE(p)
  if (extEnd > hs.length) return INVALID
  p += 2
  while (p + 4 <= extEnd) {
    const type = hs.readUInt16BE(p)
    const len = hs.readUInt16BE(p + 2)
    const body = p + 4
    if (body + len > extEnd) return INVALID
    if (type === EXT_SERVER_NAME) {
      if (len < 2) return INVALID
      const listEnd = body + 2 + hs.readUInt16BE(body)
      if (listEnd > body + len) return INVALID
      let q = body + 2
      while (q + 3 <= listEnd) {
        const nameType = hs[q]!
        const nameLen = hs.readUInt16BE(q + 1)
        if (q + 3 + nameLen > listEnd) return INVALID
        if (nameType === SNI_HOST_NAME) {
          const name = hs.toString('latin1', q + 3, q + 3 + nameLen)
          const host = normalizeHostName(name)
          return host === undefined ? INVALID : complete(host)
        }
        q += 3 + nameLen
      }
      return complete(undefined)
    }
    p = body + len
  }
  return complete(undefined)
}

const HEAD_END = Buffer.from('\r\n\r\n')
const REQUEST_LINE = /^[A-Z]{1,20} \S{1,8192} HTTP\/1\.[01]$/

/** The host an HTTP/1 request head at the start of `buf` names in its Host header (port dropped). */
export function sniffHttpHost(buf: Buffer): Sniffed {
  const end = buf.indexOf(HEAD_END)
  if (end < 0) {
    if (buf.length >= SNIFF_LIMIT_BYTES) return INVALID
    // Fail early on bytes that cannot start a request line.
    const firstLine = buf.toString('latin1', 0, Math.min(buf.length, 32))
    return /^[A-Z]{0,20}( |$)/.test(firstLine) ? INCOMPLETE : INVALID
  }
  if (end > SNIFF_LIMIT_BYTES) return INVALID
  const lines = buf.toString('latin1', 0, end).split('\r\n')
  if (!REQUEST_LINE.test(lines[0]!)) return INVALID
  let host: string | undefined
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) return INVALID
    if (line.slice(0, colon).toLowerCase() !== 'host') continue
    if (host !== undefined) return INVALID // two Host headers: ambiguous, refuse
    host = line.slice(colon + 1).trim()
  }
  if (host === undefined || host.startsWith('[')) return complete(undefined)
  const bare = host.replace(/:[0-9]{1,5}$/, '')
  const name = normalizeHostName(bare)
  // An IP literal is no name: the original destination decides.
  return name === undefined && /^[0-9.]+$/.test(bare) ? complete(undefined) : name === undefined ? INVALID : complete(name)
}
