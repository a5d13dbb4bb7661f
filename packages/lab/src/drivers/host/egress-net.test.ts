import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { egressRuleset, egressTeardownRuleset } from './egress-host.ts'
import { EgressLeases, addressCandidates, addressIndex, subnetCandidates } from './egress-leases.ts'
import { DEFAULT_PROXY_IP, egressErrors, egressNames, egressTag, intToIpv4, ipv4ToInt } from './egress-net.ts'

describe('egress names and addresses', () => {
  it('derives a fixed-length tag, and names no longer than Linux allows (15 bytes)', () => {
    const tag = egressTag('/var/lib/infra-lab')
    expect(tag).toMatch(/^[0-9a-f]{8}$/)
    expect(egressTag('/var/lib/infra-lab/')).toBe(tag)
    const n = egressNames(tag)
    for (const name of [n.holder, n.dockerBridge, n.veth(65_534)]) expect(name.length).toBeLessThanOrEqual(15)
    expect([n.holder, n.dockerBridge, n.veth(7)].every((x) => x.startsWith(n.ifacePattern.slice(0, -1)))).toBe(true)
    expect(() => egressNames('abc')).toThrow(/8 lower-case hex/)
  })
  it('the proxy is the first address of 10.88.0.0/16; sandboxes get the rest, network and broadcast aside', () => {
    expect(DEFAULT_PROXY_IP).toBe('10.88.0.1')
    const all = [...addressCandidates('10.88.0.0/16', [DEFAULT_PROXY_IP])]
    expect(all[0]).toBe('10.88.0.2')
    expect(all.at(-1)).toBe('10.88.255.254')
    expect(all).toHaveLength(65_536 - 3)
    expect(addressIndex('10.88.0.0/16', '10.88.1.2')).toBe(258)
    expect(() => addressIndex('10.88.0.0/16', '10.89.0.1')).toThrow(/not in/)
    expect([...subnetCandidates('10.89.0.0/16')].slice(0, 2)).toEqual(['10.89.0.0/24', '10.89.1.0/24'])
    expect(intToIpv4(ipv4ToInt('203.0.113.255'))).toBe('203.0.113.255')
  })
  it('checks the egress option', () => {
    expect(egressErrors({ tag: '0123abcd', proxyIp: '10.88.0.1', caCertPem: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----' })).toEqual([])
    expect(egressErrors({ tag: 'x', proxyIp: 'host', caCertPem: '' })).toHaveLength(3)
  })
})

describe('egress rules', () => {
  const names = egressNames('0123abcd')
  const rules = egressRuleset(names, '10.88.0.1', { http: 40001, transparent: 40002, dns: 40003 })
  it('replaces the whole table in one transaction', () => {
    expect(rules.startsWith('table inet infra_lab_0123abcd\ndelete table inet infra_lab_0123abcd\ntable inet infra_lab_0123abcd {')).toBe(true)
    expect(egressTeardownRuleset(names)).toBe('table inet infra_lab_0123abcd\ndelete table inet infra_lab_0123abcd\n')
  })
  it('maps the fixed sandbox ports to the real ones, and lets only those in', () => {
    expect(rules).toContain('iifname "lx0123abcd*" ip daddr 10.88.0.1 tcp dport 3128 dnat ip to 10.88.0.1:40001')
    expect(rules).toContain('iifname "lx0123abcd*" meta l4proto { tcp, udp } th dport 53 dnat ip to 10.88.0.1:40003')
    expect(rules).toContain('iifname "lx0123abcd*" tcp dport { 80, 443 } dnat ip to 10.88.0.1:40002')
    expect(rules).toContain('iifname "lx0123abcd*" ip daddr 10.88.0.1 tcp dport { 40001, 40002, 40003 } accept')
    const chain = (name: string) => rules.split(`chain ${name} {`)[1]!.split('\n  }')[0]!.trim().split('\n').map((l) => l.trim())
    expect(chain('filter_input').at(-1)).toBe('iifname "lx0123abcd*" reject with icmpx admin-prohibited')
    expect(chain('filter_forward').slice(1)).toEqual(['iifname "lx0123abcd*" reject with icmpx admin-prohibited', 'oifname "lx0123abcd*" drop'])
    expect(rules).toContain('iifname "lx0123abcd*" fib saddr . iif oif missing drop')
  })
  it('refuses ports that are not three distinct valid ones', () => {
    expect(() => egressRuleset(names, '10.88.0.1', { http: 1, transparent: 1, dns: 2 })).toThrow(/three different/)
    expect(() => egressRuleset(names, '10.88.0.1', { http: 0, transparent: 1, dns: 70_000 })).toThrow(/http=0, dns=70000/)
  })
})

describe('egress leases', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ilab-leases-')) })
  afterEach(() => rm(dir, { recursive: true, force: true }))

  it('hands out distinct addresses to concurrent callers, each with its record', async () => {
    const leases = new EgressLeases(dir)
    const got = await Promise.all(Array.from({ length: 40 }, (_, i) => new EgressLeases(dir).acquire(addressCandidates('10.88.0.0/16', ['10.88.0.1']), () => ({ runtimeDir: '/rt', sandboxId: `sb-${i}` }))))
    expect(new Set(got.map((l) => l.value)).size).toBe(40)
    expect((await leases.list()).map((l) => `${l.value} ${l.sandboxId}`).sort()).toEqual(got.map((l) => `${l.value} ${l.sandboxId}`).sort())
    expect((await readdir(dir)).filter((f) => f.startsWith('.'))).toEqual([])
  })
  it('gives a released value out again, releases only for its owner, and says when none is left', async () => {
    const leases = new EgressLeases(dir)
    const a = await leases.acquire(['10.89.0.0/24', '10.89.1.0/24'], () => ({ runtimeDir: '/a', dockerNetwork: 'n' }))
    expect(a.value).toBe('10.89.0.0/24')
    await leases.release({ ...a, runtimeDir: '/someone-else' })
    expect(await leases.owned('/a')).toHaveLength(1)
    await leases.acquire(['10.89.0.0/24', '10.89.1.0/24'], () => ({ runtimeDir: '/b' }))
    await expect(leases.acquire(['10.89.0.0/24', '10.89.1.0/24'], () => ({ runtimeDir: '/c' }))).rejects.toThrow(/no free/)
    await leases.release(a)
    expect((await leases.acquire(['10.89.0.0/24'], () => ({ runtimeDir: '/c' }))).value).toBe('10.89.0.0/24')
  })
})
