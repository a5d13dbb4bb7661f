/**
 * A small "internet" for egress tests: a network namespace joined to the host by a veth pair,
 * holding a few addresses from a TEST-NET block (203.0.113.0/24, else 198.51.100.0/24: a free
 * /28 of them, so test files can run side by side) and 2001:db8:113:<random>::/64, with servers
 * on each: HTTP on 80 and HTTPS on 443 that answer JSON describing the request they got (so a
 * test sees injected headers), `GET /bytes/N` for bulk data, and a raw TCP echo. The host gets
 * routes to the block through the veth and nothing else; close() removes all of it.
 */
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes, webcrypto } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ip = (...args: string[]): Promise<unknown> => run('ip', args)

export interface Internet {
  readonly namespace: string
  /** IPv4 addresses of the hosts, in the order the names below use them. */
  readonly addresses: readonly string[]
  /** IPv6 addresses of the hosts; empty when the machine has IPv6 off. */
  readonly addresses6: readonly string[]
  /** The host's own address on the link (always denied by the proxy: it is one of the host's). */
  readonly hostSide: string
  /** Names for the proxy's hosts resolver, including ones that resolve to addresses the proxy must refuse. */
  readonly hostsMap: Readonly<Record<string, string[]>>
  /** The self-signed certificate the HTTPS servers present (for every name and address), to trust upstream. */
  readonly caPem: string
  readonly ports: { readonly http: 80; readonly https: 443; readonly echo: number }
  close(): Promise<void>
}

export const ECHO_PORT = 7007
const HOSTS_PER_BLOCK = 10

/** Names served by the internet; the index is into `addresses`. */
const NAMES = ['example.test', 'api.example.test', 'a.npm.test', 'b.npm.test', 'npm.test', 'other.test', 'dual.test', 'deny.example.test'] as const

const SERVER_SCRIPT = String.raw`
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import fs from 'node:fs'
const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const CHUNK = Buffer.alloc(64 * 1024, 120)
function handler(req, res) {
  req.on('error', () => {})
  res.on('error', () => {})
  const bytes = /^\/bytes\/([0-9]+)$/.exec(req.url)
  if (bytes) {
    let left = Math.min(Number(bytes[1]), 1024 * 1024 * 1024)
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left })
    const more = () => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length)
        left -= n
        if (!res.write(CHUNK.subarray(0, n))) return res.once('drain', more)
      }
      res.end()
    }
    req.resume()
    return more()
  }
  let bodyBytes = 0
  req.on('data', (c) => { bodyBytes += c.length })
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ host: req.headers.host, path: req.url, method: req.method, headers: req.headers, bodyBytes,
      local: req.socket.localAddress, remotePort: req.socket.remotePort, tls: Boolean(req.socket.encrypted), servername: req.socket.servername ?? null }))
  })
}
function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', (err) => {
      if (err.code !== 'EAFNOSUPPORT' && err.code !== 'EADDRNOTAVAIL') return reject(err)
      server.listen(port, '0.0.0.0', resolve)
    })
    server.listen(port, '::', resolve)
  })
}
const echo = net.createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => s.destroy()); s.pipe(s) })
await listen(http.createServer(handler), 80)
// Idle keep-alive connections close after a second, so tests can see a proxy dial again.
const secure = https.createServer({ cert: cfg.cert, key: cfg.key, keepAliveTimeout: 1000 }, handler)
await listen(secure, 443)
await listen(echo, cfg.echoPort)
// The test process holds our stdin: when it goes (even killed), so do we.
process.stdin.on('close', () => process.exit(0))
process.stdin.resume()
process.stdout.write('ready\n')
`

async function selfSignedFor(names: readonly string[], addresses: readonly string[]): Promise<{ cert: string; key: string }> {
  x509.cryptoProvider.set(webcrypto)
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex').replace(/^[89a-f]/, '1'),
    name: `CN=test internet ${randomBytes(3).toString('hex')}`,
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 24 * 3600_000),
    signingAlgorithm: alg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.SubjectAlternativeNameExtension([...names.map((value) => ({ type: 'dns' as const, value })), ...addresses.map((value) => ({ type: 'ip' as const, value }))]),
    ],
  })
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  return { cert: cert.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') }
}

function shuffled<T>(list: T[]): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = randomBytes(1)[0]! % (i + 1)
    ;[list[i], list[j]] = [list[j]!, list[i]!]
  }
  return list
}

/** Claims a free /28 by adding the host's route to it (the kernel refuses a second identical route). */
async function claimBlock(vh: string): Promise<string> {
  const blocks = shuffled(['203.0.113', '198.51.100'].flatMap((net) => Array.from({ length: 16 }, (_, i) => `${net}.${i * 16}`)))
  for (const block of blocks) {
    const base = block.split('.').map(Number)
    const hostSide = `${base[0]}.${base[1]}.${base[2]}.${base[3]! + 1}`
    await ip('addr', 'add', `${hostSide}/32`, 'dev', vh)
    try {
      await ip('route', 'add', `${block}/28`, 'dev', vh, 'src', hostSide)
      return block
    } catch {
      await ip('addr', 'del', `${hostSide}/32`, 'dev', vh).catch(() => undefined)
    }
  }
  throw new Error('no free /28 in 203.0.113.0/24 or 198.51.100.0/24 for a test internet')
}

function waitReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => reject(new Error(`test internet servers did not start: ${err}`)), 15_000)
    child.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-2000) })
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('ready\n')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`test internet servers exited (${code}): ${err}`))
    })
  })
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Removes test internets whose test process is gone (killed before its afterAll ran). The
 * namespace's name carries the owner's pid; deleting it takes its veth pair and routes along.
 */
async function sweepOrphans(): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'list'])
  for (const m of String(stdout).matchAll(/^(inet-([0-9]+)-[0-9a-f]+)/gm)) {
    if (alive(Number(m[2]))) continue
    const { stdout: pids } = await run('ip', ['netns', 'pids', m[1]!]).catch(() => ({ stdout: '' }))
    for (const pid of String(pids).split(/\s+/).filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL') } catch { /* already gone */ }
    }
    await ip('netns', 'del', m[1]!).catch(() => undefined)
  }
}

export interface InternetOptions {
  /**
   * Addresses the proxy must refuse (a private one, 169.254.169.254) given to this namespace too,
   * with a host route to each through its link (a random metric, so test files running side by
   * side each add their own): were a refusal missing, a test would see the server answer, and
   * nothing would ever go to a real host of that address.
   */
  readonly extraAddresses?: readonly string[]
}

/** Starts a test internet; call close() in afterAll (an exit hook, or the next start's sweep, removes one a run left behind). */
export async function startInternet(opts: InternetOptions = {}): Promise<Internet> {
  await sweepOrphans()
  const suffix = randomBytes(4).toString('hex')
  const namespace = `inet-${process.pid}-${suffix}`
  const vh = `vh${suffix}`
  const vn = `vn${suffix}`
  const dir = await mkdtemp(join(tmpdir(), 'test-internet-'))
  let child: ChildProcess | undefined
  const removeSync = (): void => {
    child?.kill('SIGKILL')
    try { execFileSync('ip', ['netns', 'del', namespace], { stdio: 'ignore' }) } catch { /* gone already */ }
    try { execFileSync('ip', ['link', 'del', vh], { stdio: 'ignore' }) } catch { /* went with the namespace */ }
  }
  process.once('exit', removeSync)
  const close = async (): Promise<void> => {
    process.off('exit', removeSync)
    removeSync()
    await rm(dir, { recursive: true, force: true })
  }
  try {
    await ip('netns', 'add', namespace)
    await ip('link', 'add', vh, 'type', 'veth', 'peer', 'name', vn, 'netns', namespace)
    await ip('link', 'set', vh, 'up')
    const block = await claimBlock(vh)
    const [a, b, c, d] = block.split('.').map(Number) as [number, number, number, number]
    const hostSide = `${a}.${b}.${c}.${d + 1}`
    const addresses = Array.from({ length: HOSTS_PER_BLOCK }, (_, i) => `${a}.${b}.${c}.${d + 2 + i}`)
    const inNs = (...args: string[]): Promise<unknown> => ip('netns', 'exec', namespace, 'ip', ...args)
    await inNs('link', 'set', 'lo', 'up')
    await inNs('link', 'set', vn, 'up')
    for (const addr of addresses) await inNs('addr', 'add', `${addr}/28`, 'dev', vn)
    for (const addr of opts.extraAddresses ?? []) {
      await inNs('addr', 'add', `${addr}/32`, 'dev', vn)
      await ip('route', 'add', `${addr}/32`, 'dev', vh, 'src', hostSide, 'metric', String(1000 + Math.floor(Math.random() * 60_000)))
    }

    let addresses6: string[] = []
    const net6 = `2001:db8:113:${randomBytes(2).readUInt16BE(0).toString(16)}`
    try {
      await ip('-6', 'addr', 'add', `${net6}::1/128`, 'dev', vh, 'nodad')
      await ip('-6', 'route', 'add', `${net6}::/64`, 'dev', vh, 'src', `${net6}::1`)
      const six = Array.from({ length: 3 }, (_, i) => `${net6}::${(0x10 + i).toString(16)}`)
      for (const addr of six) await inNs('-6', 'addr', 'add', `${addr}/64`, 'dev', vn, 'nodad')
      addresses6 = six
    } catch {
      addresses6 = [] // IPv6 off on this machine: the tests that need it say so
    }

    const hostsMap: Record<string, string[]> = {}
    NAMES.forEach((name, i) => { hostsMap[name] = [addresses[i]!] })
    if (addresses6.length > 0) {
      hostsMap['dual.test'] = [addresses[NAMES.indexOf('dual.test')]!, addresses6[0]!]
      hostsMap['v6.test'] = [addresses6[1]!]
    }
    Object.assign(hostsMap, {
      'rebind.test': ['10.1.2.3'],
      'loopback.test': ['127.0.0.1'],
      'metadata.test': ['169.254.169.254'],
      'mapped.test': ['::ffff:127.0.0.1'],
      'hostside.test': [hostSide],
    })

    const { cert, key } = await selfSignedFor([...NAMES, 'v6.test'], [...addresses, ...addresses6])
    const script = join(dir, 'internet-servers.mjs')
    const config = join(dir, 'config.json')
    await writeFile(script, SERVER_SCRIPT)
    await writeFile(config, JSON.stringify({ cert, key, echoPort: ECHO_PORT }), { mode: 0o600 })
    child = spawn('ip', ['netns', 'exec', namespace, process.execPath, script, config], { stdio: ['pipe', 'pipe', 'pipe'] })
    await waitReady(child)
    return { namespace, addresses, addresses6, hostSide, hostsMap, caPem: cert, ports: { http: 80, https: 443, echo: ECHO_PORT }, close }
  } catch (err) {
    await close()
    throw err
  }
}
