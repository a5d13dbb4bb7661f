import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { EgressProxy, hostsResolver, loadOrCreateCa, SANDBOX_HOP_CONGESTION, spliceRelaySupported } from '../egress/index.ts'

const run = promisify(execFile)

/** The upstream's own loopback address: ports 80 and 443 there are free, and it is nobody else's. */
const UPSTREAM_IP = '127.0.0.77'
const PASS_HOST = 'pass.test'
const INJECT_HOST = 'inject.test'

export const TRANSFER_PATHS = ['direct-http', 'connect-http', 'direct-tls', 'connect-tls', 'injected-tls'] as const
export type TransferPath = (typeof TRANSFER_PATHS)[number]

export const TRANSFER_PATH_TEXT: Record<TransferPath, string> = {
  'direct-http': 'curl -> upstream, plain HTTP (the reference)',
  'connect-http': 'curl -> proxy CONNECT -> upstream, plain HTTP inside the tunnel',
  'direct-tls': 'curl -> upstream, HTTPS (the reference for TLS)',
  'connect-tls': 'curl -> proxy CONNECT -> upstream, HTTPS passed through untouched',
  'injected-tls': 'curl -> proxy (TLS terminated with the gateway CA, header injected) -> upstream HTTPS',
}

export interface ThroughputRun {
  readonly mib: number
  /** MiB/s per path, in the order taken (the paths interleaved, repeat by repeat). */
  readonly mibPerS: Record<TransferPath, number[]>
  /** TCP congestion control: the host's default (the upstream's and curl's) and the proxy's side toward the sandbox. */
  readonly congestion?: { readonly host: string; readonly sandboxHop: string }
}

/** The host's default TCP congestion control, or "unknown" off Linux. */
function hostCongestion(): string {
  try {
    return readFileSync('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').trim()
  } catch {
    return 'unknown'
  }
}

/** The upstream: HTTP on :80 and HTTPS on :443 of UPSTREAM_IP, serving `mib` MiB at /blob; its own process. */
const UPSTREAM_SOURCE = `
const http = require('node:http'), https = require('node:https'), tls = require('node:tls'), fs = require('node:fs')
const [ip, mib, dir] = process.argv.slice(1)
const ctx = (name) => ({ cert: fs.readFileSync(dir + '/' + name + '.pem'), key: fs.readFileSync(dir + '/' + name + '.key') })
const contexts = { '${PASS_HOST}': tls.createSecureContext(ctx('${PASS_HOST}')), '${INJECT_HOST}': tls.createSecureContext(ctx('${INJECT_HOST}')) }
const chunk = Buffer.alloc(1 << 20, 97)
const serve = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(Number(mib) * chunk.length), 'x-auth-seen': String(req.headers.authorization === 'Bearer bench') })
  let left = Number(mib)
  const more = () => { while (left > 0) { left--; if (!res.write(chunk)) { res.once('drain', more); return } } res.end() }
  more()
}
let up = 0
const ready = () => { if (++up === 2) process.stdout.write('ready\\n') }
http.createServer(serve).listen(80, ip, ready)
https.createServer({ ...ctx('${PASS_HOST}'), SNICallback: (name, cb) => cb(null, contexts[name] || contexts['${PASS_HOST}']) }, serve).listen(443, ip, ready)
`

/**
 * CONNECT pass-through and the injecting path against direct loopback transfers, in one run: the
 * proxy in this process (as in the gateway), the upstream in another, curl as the client for
 * every path, so only the proxy differs. Each repeat takes every path once, in turn.
 */
export async function measureEgressThroughput(o: { mib: number; repeats: number }, log: (s: string) => void): Promise<ThroughputRun> {
  const dir = mkdtempSync(join(tmpdir(), 'ilab-bench-egress-'))
  let upstream: ChildProcess | undefined
  let proxy: EgressProxy | undefined
  try {
    const upstreamCa = await loadOrCreateCa(join(dir, 'upstream-ca'))
    writeFileSync(join(dir, 'upstream-ca.pem'), upstreamCa.caCertPem)
    // one server, a leaf per name, chosen by SNI
    for (const name of [PASS_HOST, INJECT_HOST]) {
      const leaf = await upstreamCa.leafFor(name)
      writeFileSync(join(dir, `${name}.pem`), leaf.certPem)
      writeFileSync(join(dir, `${name}.key`), leaf.keyPem)
    }
    upstream = spawn(process.execPath, ['-e', UPSTREAM_SOURCE, UPSTREAM_IP, String(o.mib), dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise<void>((resolve, reject) => {
      upstream!.stdout!.once('data', () => resolve())
      upstream!.once('exit', (code) => reject(new Error(`the upstream server exited (${code}): are ports 80/443 of ${UPSTREAM_IP} free?`)))
    })

    const gatewayCa = await loadOrCreateCa(join(dir, 'gateway-ca'))
    writeFileSync(join(dir, 'gateway-ca.pem'), gatewayCa.caCertPem)
    proxy = new EgressProxy({
      host: '127.0.0.1',
      resolver: hostsResolver({ [PASS_HOST]: [UPSTREAM_IP], [INJECT_HOST]: [UPSTREAM_IP] }),
      ca: gatewayCa,
      upstreamCaPems: [upstreamCa.caCertPem],
      limits: { maxConnections: 64, bytesPerSec: 0 },
      logger: pino({ level: 'silent' }),
    })
    const ports = await proxy.listen()
    proxy.bind('127.0.0.1', {
      sessionId: 'bench', pool: 'bench',
      // loopback is always denied unless listed exactly: the upstream's address is
      policy: { egress: 'allow', allow: [PASS_HOST, INJECT_HOST, UPSTREAM_IP] },
      credentials: [{ host: INJECT_HOST, header: 'Authorization', value: 'Bearer bench' }],
    })
    const viaProxy = `http://127.0.0.1:${ports.http}`
    const ca = (f: string) => ['--cacert', join(dir, f)]
    const args: Record<TransferPath, string[]> = {
      'direct-http': [`http://${UPSTREAM_IP}/blob`],
      'connect-http': ['-p', '-x', viaProxy, `http://${UPSTREAM_IP}/blob`],
      'direct-tls': ['--resolve', `${PASS_HOST}:443:${UPSTREAM_IP}`, ...ca('upstream-ca.pem'), `https://${PASS_HOST}/blob`],
      'connect-tls': ['-x', viaProxy, ...ca('upstream-ca.pem'), `https://${PASS_HOST}/blob`],
      'injected-tls': ['-x', viaProxy, ...ca('gateway-ca.pem'), `https://${INJECT_HOST}/blob`],
    }
    const mibPerS = Object.fromEntries(TRANSFER_PATHS.map((p) => [p, [] as number[]])) as Record<TransferPath, number[]>
    for (let r = 0; r < o.repeats; r++) {
      // the order rotates, so no path always follows the same one
      const order = TRANSFER_PATHS.map((_, i) => TRANSFER_PATHS[(i + r) % TRANSFER_PATHS.length]!)
      for (const path of order) {
        const { stdout } = await run('curl', ['-sS', '--fail', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', ...args[path]], { maxBuffer: 1 << 16 })
        const [speed, size] = stdout.trim().split(' ').map(Number) as [number, number]
        if (size !== o.mib * 2 ** 20) throw new Error(`${path}: got ${size} bytes, expected ${o.mib} MiB`)
        mibPerS[path].push(speed / 2 ** 20)
      }
      log(`  transfers: repeat ${r + 1}/${o.repeats}: ${TRANSFER_PATHS.map((p) => `${p} ${mibPerS[p].at(-1)!.toFixed(0)}`).join(', ')} MiB/s`)
    }
    if (proxy.denied('bench').length > 0) throw new Error(`the proxy denied a bench transfer: ${JSON.stringify(proxy.denied('bench'))}`)
    const host = hostCongestion()
    return { mib: o.mib, mibPerS, congestion: { host, sandboxHop: spliceRelaySupported() ? SANDBOX_HOP_CONGESTION : host } }
  } finally {
    await proxy?.close()
    upstream?.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}
