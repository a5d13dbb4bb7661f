import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '../src/gateway/test-gateway.test-util.ts'
import { KEY, exited, runGateway, type RunningGateway } from './gateway-process.test-util.ts'
import { ECHO_PORT, startInternet, type Internet } from './internet.test-util.ts'

/** Given to the test internet too (with host routes through its link), so a wrong allow would be seen. */
const PRIVATE_IP = '10.1.2.3'
const METADATA_IP = '169.254.169.254'

export interface EgressSuiteOptions {
  readonly driver: 'local' | 'docker'
  /** Extra env for the gateway process (the Docker image). */
  readonly gatewayEnv?: Record<string, string>
  /** Removes what the driver left (`gateway --teardown`) once the suite is done. */
  teardown(dataDir: string): Promise<void>
}

interface ExecResult {
  readonly exitCode: number | null
  readonly stdout: string
  readonly stderr: string
}

type Policy = { egress: 'none' | 'allow' | 'open'; allow?: string[]; deny?: string[] }

/**
 * Real traffic from real sandboxes through the gateway's egress proxy to an "internet" of
 * servers in a network namespace the test makes (TEST-NET-3 addresses, plus a private and a
 * metadata address given to that namespace, so a wrong allow would be seen and nothing ever goes
 * to a real one). The proxy resolves names with the test's hosts map.
 */
export function runEgressSuite(opts: EgressSuiteOptions): void {
  describe(`egress policy on ${opts.driver} sandboxes`, () => {
    const tag = randomBytes(4).toString('hex')
    const secret = `Bearer tok-${tag}-do-not-leak`
    let internet: Internet
    let dataDir: string
    let gw: RunningGateway
    let config: object

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers of many shapes, read by the tests
    const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
      const res = await fetch(`${gw.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
      const text = await res.text()
      return { status: res.status, json: text ? JSON.parse(text) : undefined }
    }
    const create = async (body: Record<string, unknown>): Promise<string> => {
      const res = await api('POST', '/v1/sessions', { user: `u${tag}`, pool: 'net', ...body })
      expect(res.status, JSON.stringify(res.json)).toBe(201)
      return res.json.id as string
    }
    const sh = async (id: string, cmd: string, timeoutS = 20): Promise<ExecResult> => {
      const res = await api('POST', `/v1/sessions/${id}/exec`, { cmd, timeoutS })
      expect(res.status, JSON.stringify(res.json)).toBe(200)
      return res.json as ExecResult
    }
    /** curl's status line: the HTTP code it got, or 000 when it got none (refused, reset, no name). */
    const curl = async (id: string, args: string): Promise<{ code: string; body: string }> => {
      const r = await sh(id, `curl -sS -m 8 -o /tmp/body -w '%{http_code}' ${args}; echo; cat /tmp/body 2>/dev/null`)
      const [code = '', ...rest] = r.stdout.split('\n')
      return { code: code.trim(), body: rest.join('\n') }
    }
    const ip = (name: string): string => internet.hostsMap[name]![0]!
    const network = async (id: string) => (await api('GET', `/v1/sessions/${id}/network`)).json as { policy: Policy; denied: { host?: string; address?: string; port: number; reason: string; via: string }[] }

    beforeAll(async () => {
      internet = await startInternet({ extraAddresses: [PRIVATE_IP, METADATA_IP] })
      dataDir = mkdtempSync(join(tmpdir(), `ilab-egress-${opts.driver}-`))
      const caFile = join(dataDir, 'internet-ca.pem')
      writeFileSync(caFile, internet.caPem)
      config = {
        driver: opts.driver,
        pools: [{ name: 'net', driver: opts.driver, network: true, egress: { egress: 'none' }, policy: { kind: 'fixed', size: 4 }, maxSize: 110, maxConcurrentCreates: 16, claimTimeoutMs: 180_000 }],
        egress: { hosts: internet.hostsMap, upstreamCaFiles: [caFile] },
      }
      gw = await runGateway(dataDir, config, opts.gatewayEnv)
    }, 180_000)

    afterAll(async () => {
      if (gw) {
        gw.child.kill('SIGINT')
        await exited(gw.child)
      }
      if (dataDir) {
        await opts.teardown(dataDir)
        rmSync(dataDir, { recursive: true, force: true })
      }
      await internet?.close()
    }, 120_000)

    it('egress none: nothing answers, by name, address, proxy or not; every attempt is listed', async () => {
      const id = await create({})
      expect((await network(id)).policy).toEqual({ egress: 'none' })
      expect((await curl(id, 'http://example.test/')).code).not.toBe('200')
      expect((await curl(id, `--noproxy "*" http://${ip('example.test')}/`)).code).toBe('000')
      expect((await curl(id, 'https://example.test/')).code).toBe('000')
      const denied = (await network(id)).denied
      expect(denied.length).toBeGreaterThanOrEqual(2)
      expect(denied.every((d) => d.reason === 'egress_none')).toBe(true)
      // counted per pool in /metrics
      const metrics = await (await fetch(`${gw.url}/metrics`)).text()
      const counted = /^lab_egress_denied_total\{pool="net"(?:,replica="[^"]*")?\} (\d+)$/m.exec(metrics)
      expect(Number(counted?.[1])).toBeGreaterThanOrEqual(denied.length)
    }, 60_000)

    it('allows by domain, wildcard (subdomains only) and CIDR, through the proxy variables, and deny beats allow', async () => {
      // a /31 that holds dual.test's and deny.example.test's addresses, not other.test's
      const id = await create({ network: { egress: 'allow', allow: ['example.test', '*.npm.test', `${ip('dual.test')}/31`], deny: ['b.npm.test'] } })
      await sh(id, `cat > /tmp/internet-ca.pem <<'EOF'\n${internet.caPem}\nEOF`)
      const ok = await curl(id, 'http://example.test/hello')
      expect(ok.code).toBe('200')
      expect(JSON.parse(ok.body)).toMatchObject({ host: 'example.test', path: '/hello' })
      expect((await curl(id, '--cacert /tmp/internet-ca.pem https://example.test/')).code).toBe('200')
      expect((await curl(id, 'http://a.npm.test/')).code).toBe('200')
      expect((await curl(id, 'http://npm.test/')).code).toBe('403') // the bare domain is not a subdomain
      expect((await curl(id, 'http://b.npm.test/')).code).toBe('403') // deny beats allow
      expect((await curl(id, `http://${ip('deny.example.test')}/`)).code).toBe('200') // in the /31
      expect((await curl(id, `http://${ip('other.test')}/`)).code).toBe('403') // outside it
      expect((await curl(id, 'http://example.test:8080/')).code).not.toBe('200') // a pattern without a port: 80 and 443 only
      const reasons = (await network(id)).denied.map((d) => `${d.host ?? d.address}:${d.reason}`)
      expect(reasons).toEqual(expect.arrayContaining(['npm.test:not_allowed', 'b.npm.test:denied_by_rule', `${ip('other.test')}:not_allowed`]))
    }, 90_000)

    it('judges a program that ignores the proxy variables by the same policy: curl --noproxy and raw TCP', async () => {
      const id = await create({ network: { egress: 'allow', allow: ['example.test', ip('npm.test')] } })
      await sh(id, `cat > /tmp/internet-ca.pem <<'EOF'\n${internet.caPem}\nEOF`)
      const direct = await curl(id, '--noproxy "*" http://example.test/direct')
      expect(direct.code).toBe('200')
      expect(JSON.parse(direct.body)).toMatchObject({ host: 'example.test', path: '/direct' })
      expect((await curl(id, '--noproxy "*" --cacert /tmp/internet-ca.pem https://example.test/')).code).toBe('200')
      // allowed by address, not by name: the original destination is judged
      expect((await curl(id, `--noproxy "*" http://${ip('npm.test')}/`)).code).toBe('200')
      // not allowed: the transparent proxy closes it
      expect((await curl(id, `--noproxy "*" --resolve other.test:80:${ip('other.test')} http://other.test/`)).code).toBe('000')
      // raw TCP on a port that is not 80/443 has no route at all, even to an allowed address
      const raw = await sh(id, `timeout 5 bash -c "exec 3<>/dev/tcp/${ip('npm.test')}/${ECHO_PORT} && echo hi >&3 && head -c 2 <&3" && echo OPEN || echo CLOSED`)
      expect(raw.stdout.trim().split('\n').pop()).toBe('CLOSED')
      const udp = await sh(id, `timeout 3 bash -c "echo x > /dev/udp/${ip('npm.test')}/${ECHO_PORT}" ; echo done`)
      expect(udp.stdout).toContain('done')
    }, 90_000)

    it('never reaches the gateway, host loopback, metadata, private ranges or their mapped IPv6 forms, even with egress open', async () => {
      const id = await create({ network: { egress: 'open' } })
      const gwPort = new URL(gw.url).port
      // with egress open, the world answers
      expect((await curl(id, 'http://example.test/')).code).toBe('200')
      for (const target of [
        `http://10.88.0.1:${gwPort}/healthz`, `http://127.0.0.1:${gwPort}/healthz`, `http://${METADATA_IP}/latest/meta-data/`, `http://${PRIVATE_IP}/`,
        `http://[::ffff:${METADATA_IP}]/`, `http://[::ffff:${PRIVATE_IP}]/`, 'http://[::ffff:127.0.0.1]/', 'http://[::1]/', `http://${internet.hostSide}/`,
      ]) {
        const viaProxy = await curl(id, `-g ${target}`)
        expect(viaProxy.code, target).not.toBe('200')
        expect(viaProxy.body, target).not.toContain('"path"')
        const direct = await curl(id, `-g --noproxy "*" ${target}`)
        expect(direct.code, `${target} direct`).not.toBe('200')
      }
      // a name that resolves to a denied address is refused, also when it is allowed by name
      expect((await curl(id, 'http://rebind.test/')).code).toBe('403')
      const reasons = (await network(id)).denied.map((d) => d.reason)
      expect(reasons).toContain('always_denied')
    }, 120_000)

    it('lets the exact address through when a policy lists it', async () => {
      const id = await create({ network: { egress: 'allow', allow: [PRIVATE_IP] } })
      const r = await curl(id, `http://${PRIVATE_IP}/exact`)
      expect(r.code).toBe('200')
      expect(JSON.parse(r.body)).toMatchObject({ path: '/exact' })
    }, 60_000)

    it('fails DNS for names the policy does not list, and answers the ones it does', async () => {
      const id = await create({ network: { egress: 'allow', allow: ['example.test'] } })
      expect((await sh(id, 'getent hosts example.test')).stdout).toContain(ip('example.test'))
      const unlisted = await sh(id, 'getent hosts a.npm.test; echo "rc=$?"')
      expect(unlisted.stdout).toContain('rc=2')
      expect((await curl(id, '--noproxy "*" http://a.npm.test/')).code).toBe('000')
      expect((await network(id)).denied.some((d) => d.via === 'dns' && d.host === 'a.npm.test')).toBe(true)
    }, 60_000)

    it('applies a policy change while connected: new connections at once, open ones no longer allowed are closed', async () => {
      const id = await create({ network: { egress: 'allow', allow: ['example.test', 'a.npm.test'] } })
      // a tunnel that stays open: CONNECT to the echo port, then wait for it to be closed
      await api('PUT', `/v1/sessions/${id}/network`, { egress: 'allow', allow: ['example.test', 'a.npm.test', `a.npm.test:${ECHO_PORT}`] })
      const started = await api('POST', `/v1/sessions/${id}/exec`, {
        cmd: `exec 3<>/dev/tcp/10.88.0.1/3128; printf "CONNECT a.npm.test:${ECHO_PORT} HTTP/1.1\\r\\nHost: a.npm.test:${ECHO_PORT}\\r\\n\\r\\n" >&3; head -c 12 <&3 > /tmp/status; (while IFS= read -r -t 30 line <&3; do :; done; echo closed > /tmp/closed) ; sleep 1`,
        background: true,
      })
      expect(started.status).toBe(202)
      await waitFor(async () => (await sh(id, 'cat /tmp/status 2>/dev/null')).stdout.includes('200'), 15_000, 'the tunnel to open')
      expect((await sh(id, 'cat /tmp/closed 2>/dev/null; true')).stdout).toBe('')
      const put = await api('PUT', `/v1/sessions/${id}/network`, { egress: 'allow', allow: ['example.test'] })
      expect(put.status).toBe(200)
      expect(put.json.policy).toEqual({ egress: 'allow', allow: ['example.test'] })
      expect((await curl(id, 'http://a.npm.test/')).code).toBe('403')
      expect((await curl(id, 'http://example.test/')).code).toBe('200')
      await waitFor(async () => (await sh(id, 'cat /tmp/closed 2>/dev/null; true')).stdout.includes('closed'), 5_000, 'the open tunnel to be closed')
    }, 90_000)

    it('injects a credential the sandbox never sees, also after the gateway is killed with SIGKILL', async () => {
      const id = await create({
        network: { egress: 'allow', allow: ['api.example.test', 'example.test'] },
        credentials: [{ host: 'api.example.test', header: 'Authorization', value: secret }],
      })
      // the sandbox trusts the gateway's CA through its system bundle: no --cacert
      const seen = await curl(id, '-H "Authorization: Bearer forged" https://api.example.test/who')
      expect(seen.code).toBe('200')
      expect(JSON.parse(seen.body).headers.authorization).toBe(secret)
      // not injected to another host, nor over plain HTTP
      const other = await curl(id, `--cacert /etc/ssl/certs/ca-certificates.crt http://api.example.test/plain`)
      expect(other.body).not.toContain(secret)
      const needle = `tok-${tag}`
      // a pattern that matches the value but is not it: the search's own command line holds the pattern
      const pattern = `tok-[${tag[0]}]${tag.slice(1)}`
      const search = await sh(id, [
        `env | grep -c '${pattern}'`,
        `cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c '${pattern}'`,
        `cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n' | grep -c '${pattern}'`,
        `grep -rs -l '${pattern}' /home /tmp /etc /opt /run 2>/dev/null | wc -l`,
      ].join('; '), 60)
      expect(search.stdout.trim().split('\n')).toEqual(['0', '0', '0', '0'])
      expect(JSON.stringify((await network(id)))).not.toContain(needle)
      expect(gw.stderr()).not.toContain(needle)

      gw.child.kill('SIGKILL')
      await exited(gw.child)
      gw = await runGateway(dataDir, config, opts.gatewayEnv)
      await waitFor(async () => (await api('POST', `/v1/sessions/${id}/exec`, { cmd: 'true' })).status === 200, 20_000, 'the session to be resumed')
      const again = await curl(id, 'https://api.example.test/after-restart')
      expect(again.code).toBe('200')
      expect(JSON.parse(again.body).headers.authorization).toBe(secret)
    }, 120_000)

    it('runs 100 sessions with different policies at once, each held to its own', async () => {
      // One user each: the per-user quota (default 10) is not what this case is about.
      const names = ['example.test', 'a.npm.test', 'b.npm.test', 'npm.test']
      // made 20 at a time (a hundred cold starts at once outrun the agent deadline on a loaded
      // machine), then all 100 held open and used at once
      const ids: string[] = []
      for (let from = 0; from < 100; from += 20) {
        ids.push(...await Promise.all(Array.from({ length: 20 }, (_, k) => from + k).map((i) => create({ user: `many${i}`, network: { egress: 'allow', allow: [names[i % 4]!] } }))))
      }
      const results = await Promise.all(ids.map(async (id, i) => {
        const mine = names[i % 4]!
        const notMine = names[(i + 1) % 4]!
        const r = await sh(id, `curl -s -o /dev/null -w '%{http_code} ' http://${mine}/; curl -s -o /dev/null -w '%{http_code}' http://${notMine}/`, 30)
        return r.stdout.trim()
      }))
      expect(results.filter((r) => r === '200 403').length).toBe(100)
      await Promise.all(ids.map((id) => api('DELETE', `/v1/sessions/${id}`)))
    }, 300_000)
  })
}
