/**
 * The gateway's own certificate authority, used only where the proxy terminates TLS to inject a
 * credential: sandboxes trust it (NODE_EXTRA_CA_CERTS and the system bundle), and the proxy
 * shows them a short-lived leaf for the host they asked for. ECDSA P-256. The key stays in the
 * data dir (0600); deleting both files rotates the CA at the next start.
 */
import 'reflect-metadata' // @peculiar/x509's dependency injection needs the Reflect metadata API
import * as x509 from '@peculiar/x509'
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createSecureContext, type SecureContext } from 'node:tls'
import { publishOnce } from './files.ts'

x509.cryptoProvider.set(webcrypto)

export const CA_KEY_FILE = 'egress-ca.key'
export const CA_CERT_FILE = 'egress-ca.pem'
export const CA_LIFETIME_MS = 10 * 365 * 24 * 3600_000
/** A leaf lives a day; it is issued again when less than LEAF_RENEW_MS of it is left. */
export const LEAF_LIFETIME_MS = 24 * 3600_000
export const LEAF_RENEW_MS = 3600_000
/** Clocks in sandboxes may lag: a leaf is valid from a little before it was made. */
const BACKDATE_MS = 3600_000
/** Most leaves kept (least recently used go first). */
export const LEAF_CACHE_SIZE = 1000

const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const

export interface Leaf {
  readonly certPem: string
  readonly keyPem: string
  readonly notAfter: Date
  /** Ready for tls.TLSSocket / tls.createServer ({ secureContext }). */
  readonly context: SecureContext
}

export interface EgressCa {
  readonly caCertPem: string
  /** A leaf for `host` signed by this CA, cached. `host` must already be a normalized host name. */
  leafFor(host: string): Promise<Leaf>
}

interface KeyPair { privateKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey }

function serial(): string {
  const bytes = randomBytes(16)
  bytes[0] = bytes[0]! & 0x7f // positive
  return bytes.toString('hex')
}

async function importKeyPair(pem: string): Promise<KeyPair> {
  const priv = createPrivateKey(pem)
  const pkcs8 = priv.export({ format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' })
  return {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, EC, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, EC, true, ['verify']),
  }
}

async function generateKeyPair(): Promise<{ keys: KeyPair; pem: string }> {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']) as KeyPair
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)
  return { keys, pem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') }
}

async function createCaCert(keys: KeyPair): Promise<string> {
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=Infra Lab egress CA ${randomBytes(4).toString('hex')}, O=infra-lab`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + CA_LIFETIME_MS),
    signingAlgorithm: SIGNING,
    keys: keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return cert.toString('pem')
}

async function readIfPresent(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** The key at `dir/egress-ca.key` (0600) and the certificate at `dir/egress-ca.pem` (0644), created when absent. */
async function loadOrCreateFiles(dir: string): Promise<{ keyPem: string; certPem: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const keyPath = join(dir, CA_KEY_FILE)
  const certPath = join(dir, CA_CERT_FILE)
  let keyPem = await readIfPresent(keyPath)
  if (keyPem === undefined) {
    const fresh = await generateKeyPair()
    keyPem = (await publishOnce(keyPath, fresh.pem, 0o600)) ? fresh.pem : (await readFile(keyPath, 'utf8'))
  }
  let certPem = await readIfPresent(certPath)
  if (certPem === undefined) {
    // A start that died between the two files left a key alone: certify that key.
    const fresh = await createCaCert(await importKeyPair(keyPem))
    certPem = (await publishOnce(certPath, fresh, 0o644)) ? fresh : (await readFile(certPath, 'utf8'))
  }
  return { keyPem, certPem }
}

/** Loads the CA kept in `dir`, or creates it there. Throws when the key and certificate do not belong together. */
export async function loadOrCreateCa(dir: string): Promise<EgressCa> {
  const { keyPem, certPem } = await loadOrCreateFiles(dir)
  const caKeys = await importKeyPair(keyPem)
  const caCert = new x509.X509Certificate(certPem)
  const certSpki = Buffer.from(caCert.publicKey.rawData)
  const keySpki = Buffer.from(await webcrypto.subtle.exportKey('spki', caKeys.publicKey))
  if (!certSpki.equals(keySpki)) throw new Error(`${join(dir, CA_CERT_FILE)} does not belong to ${join(dir, CA_KEY_FILE)}: delete both to make a new CA`)
  const authorityKeyId = await x509.AuthorityKeyIdentifierExtension.create(caCert)
  // One key for every leaf: generating a P-256 key per host would only cost time.
  const leafKeys = await generateKeyPair()
  const leafSubjectKeyId = await x509.SubjectKeyIdentifierExtension.create(leafKeys.keys.publicKey)
  const cache = new Map<string, { leaf: Promise<Leaf>; notAfterMs: number }>()

  const issue = async (host: string, now: number): Promise<Leaf> => {
    const notAfter = new Date(now + LEAF_LIFETIME_MS)
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${host}`,
      issuer: caCert.subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      signingAlgorithm: SIGNING,
      publicKey: leafKeys.keys.publicKey,
      signingKey: caKeys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }]),
        authorityKeyId,
        leafSubjectKeyId,
      ],
    })
    const leafPem = cert.toString('pem')
    return { certPem: leafPem, keyPem: leafKeys.pem, notAfter, context: createSecureContext({ cert: leafPem, key: leafKeys.pem }) }
  }

  const leafFor = (host: string): Promise<Leaf> => {
    if (!/^[a-z0-9_.-]{1,253}$/.test(host)) return Promise.reject(new Error(`leafFor: "${host}" is not a normalized host name`))
    const now = Date.now()
    const cached = cache.get(host)
    if (cached) cache.delete(host) // re-inserted below: most recently used last
    if (cached && cached.notAfterMs - now > LEAF_RENEW_MS) {
      cache.set(host, cached)
      return cached.leaf
    }
    const leaf = issue(host, now)
    cache.set(host, { leaf, notAfterMs: now + LEAF_LIFETIME_MS })
    leaf.catch(() => cache.delete(host))
    while (cache.size > LEAF_CACHE_SIZE) cache.delete(cache.keys().next().value!)
    return leaf
  }

  return { caCertPem: certPem, leafFor }
}
