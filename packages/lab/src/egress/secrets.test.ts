import { X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, unlink } from 'node:fs/promises'
import { createServer, connect, type TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CA_CERT_FILE, CA_KEY_FILE, loadOrCreateCa } from './ca.ts'
import { createSealer, loadOrCreateKey } from './sealed.ts'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'egress-secrets-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('sealed values', () => {
  it('round-trips, and a second load reads the same 0600 key', async () => {
    const path = join(dir, 'keys', 'sealing.key')
    const key = await loadOrCreateKey(path)
    expect(((await stat(path)).mode & 0o777).toString(8)).toBe('600')
    expect((await loadOrCreateKey(path)).equals(key)).toBe(true)
    const sealer = createSealer(key)
    const sealed = sealer.seal('Bearer s3cret', 'session-1')
    expect(sealed).not.toContain('s3cret')
    expect(sealer.open(sealed, 'session-1').toString()).toBe('Bearer s3cret')
    expect(sealer.seal('Bearer s3cret')).not.toBe(sealer.seal('Bearer s3cret')) // a fresh IV each time
  })

  it('throws on any altered byte, another key, or another context', async () => {
    const sealer = createSealer(await loadOrCreateKey(join(dir, 'k2')))
    const sealed = sealer.seal('value')
    const raw = Buffer.from(sealed.slice(3), 'base64url')
    for (const i of [0, 12, 20, raw.length - 1]) {
      const bad = Buffer.from(raw)
      bad[i] = bad[i]! ^ 1
      expect(() => sealer.open(`v1.${bad.toString('base64url')}`), `byte ${i}`).toThrow(/authentication failed/)
    }
    expect(() => createSealer(Buffer.alloc(32, 7)).open(sealed)).toThrow(/authentication failed/)
    expect(() => sealer.open(sealer.seal('v', 'a'), 'b')).toThrow(/authentication failed/)
    expect(() => sealer.open('v1.AAAA')).toThrow(/too short/)
    expect(() => sealer.open('plain')).toThrow(/unknown format/)
    expect(() => createSealer(Buffer.alloc(16))).toThrow(/32 bytes/)
  })
})

describe('the egress CA', () => {
  it('writes its key 0600 and certificate 0644, and loads the same CA again', async () => {
    const caDir = join(dir, 'ca')
    const ca = await loadOrCreateCa(caDir)
    expect(((await stat(join(caDir, CA_KEY_FILE))).mode & 0o777).toString(8)).toBe('600')
    expect(((await stat(join(caDir, CA_CERT_FILE))).mode & 0o777).toString(8)).toBe('644')
    const again = await loadOrCreateCa(caDir)
    expect(again.caCertPem).toBe(ca.caCertPem)
    const cert = new X509Certificate(ca.caCertPem)
    expect(cert.ca).toBe(true)
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1')
  })

  it('certifies its key again when the certificate file is lost', async () => {
    const caDir = join(dir, 'ca-lost')
    const ca = await loadOrCreateCa(caDir)
    await unlink(join(caDir, CA_CERT_FILE))
    const again = await loadOrCreateCa(caDir)
    expect(new X509Certificate(again.caCertPem).publicKey.export({ format: 'pem', type: 'spki' }))
      .toBe(new X509Certificate(ca.caCertPem).publicKey.export({ format: 'pem', type: 'spki' }))
  })

  it('issues short-lived leaves that a TLS client trusting only the CA accepts for that host alone', async () => {
    const ca = await loadOrCreateCa(join(dir, 'ca'))
    const leaf = await ca.leafFor('api.example.test')
    expect(await ca.leafFor('api.example.test')).toBe(leaf) // cached
    const x = new X509Certificate(leaf.certPem)
    expect(x.checkIssued(new X509Certificate(ca.caCertPem))).toBe(true)
    expect(x.checkHost('api.example.test')).toBe('api.example.test')
    expect(x.checkHost('other.example.test')).toBeUndefined()
    expect(new Date(x.validTo).getTime() - Date.now()).toBeLessThanOrEqual(24 * 3600_000 + 60_000)

    const server = createServer({ SNICallback: (_name, cb) => cb(null, leaf.context) })
    server.on('secureConnection', (s: TLSSocket) => s.end('hi'))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const talk = (servername: string): Promise<string> => new Promise((resolve, reject) => {
      const c = connect({ host: '127.0.0.1', port, servername, ca: [ca.caCertPem] })
      let got = ''
      c.on('data', (d) => { got += d.toString() })
      c.on('end', () => resolve(got))
      c.on('error', reject)
    })
    expect(await talk('api.example.test')).toBe('hi')
    await expect(talk('other.example.test')).rejects.toThrow(/altnames|does not match/i)
    server.close()
  })

  it('refuses a certificate that does not belong to the key', async () => {
    const a = join(dir, 'ca-a')
    const b = join(dir, 'ca-b')
    await loadOrCreateCa(a)
    await loadOrCreateCa(b)
    const { writeFile } = await import('node:fs/promises')
    await writeFile(join(a, CA_CERT_FILE), await readFile(join(b, CA_CERT_FILE)))
    await expect(loadOrCreateCa(a)).rejects.toThrow(/does not belong/)
  })
})
