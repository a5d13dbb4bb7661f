import { describe, expect, it } from 'vitest'
import type { NetworkPolicy } from '../spec/network-policy.ts'
import { addressForms, isAlwaysDenied, normalizeAddress, parseAddress } from './addresses.ts'
import { compilePolicy } from './policy.ts'

const OWN = new Set(['192.0.2.2', '198.51.100.77'])
const compile = (policy: NetworkPolicy) => compilePolicy(policy, { hostAddresses: () => OWN })
const PUBLIC = '203.0.113.10'

describe('always-denied addresses', () => {
  it.each([
    ['127.0.0.1'], ['127.255.0.9'], ['::1'], ['0.0.0.0'], ['0.1.2.3'], ['::'],
    ['169.254.169.254'], ['169.254.1.1'], ['fe80::1'], ['fe80::abcd:1'],
    ['10.0.0.1'], ['172.16.0.1'], ['172.31.255.255'], ['192.168.1.1'], ['100.64.0.1'], ['100.127.255.254'], ['fd00::1'], ['fc00::1'],
    ['224.0.0.1'], ['239.255.255.250'], ['ff02::1'], ['255.255.255.255'], ['240.0.0.1'],
    ['::ffff:127.0.0.1'], ['::ffff:10.0.0.1'], ['::ffff:169.254.169.254'], ['::ffff:7f00:1'], ['::127.0.0.1'], ['::10.0.0.1'],
    ['64:ff9b::127.0.0.1'], ['64:ff9b::a9fe:a9fe'], ['2002:7f00:1::1'], ['2002:a00:1::'], ['2001:0:1:2:0:0:f5ff:fffe'],
    ['192.0.2.2'], ['::ffff:192.0.2.2'], ['198.51.100.77'], // the host's own
    ['not an address'], ['127.1'], ['0x7f.0.0.1'],
  ])('%s is always denied', (ip) => {
    expect(isAlwaysDenied(ip, OWN)).toBe(true)
  })

  it.each([[PUBLIC], ['198.51.100.7'], ['8.8.8.8'], ['2001:db8::1'], ['2606:4700::1111'], ['::ffff:203.0.113.10'], ['64:ff9b::cb00:710a'], ['172.32.0.1'], ['100.128.0.1']])('%s is not', (ip) => {
    expect(isAlwaysDenied(ip, OWN)).toBe(false)
  })

  it('normalizes IPv4-mapped IPv6 to IPv4 and finds embedded IPv4 in NAT64 and 6to4 forms', () => {
    expect(normalizeAddress('::ffff:127.0.0.1')).toBe('127.0.0.1')
    expect(normalizeAddress('2001:DB8:0::1')).toBe('2001:db8::1')
    expect(addressForms(parseAddress('64:ff9b::a00:1')!).map(String)).toContain('10.0.0.1')
    expect(addressForms(parseAddress('2002:c0a8:0101::1')!).map(String)).toContain('192.168.1.1')
  })
})

describe('compilePolicy', () => {
  it('none denies every name, address and DNS question', () => {
    const p = compile({ egress: 'none', allow: ['example.test'] })
    expect(p.judgeName('example.test', 443)).toEqual({ allowed: false, reason: 'egress_none' })
    expect(p.judgeAddress(PUBLIC, 443, 'example.test')).toEqual({ allowed: false, reason: 'egress_none' })
    expect(p.allowsNameAtAll('example.test')).toBe(false)
  })

  it('a domain matches that name only, case-insensitively, on 80 and 443', () => {
    const p = compile({ egress: 'allow', allow: ['Example.test'] })
    expect(p.judgeAddress(PUBLIC, 443, 'EXAMPLE.test.').allowed).toBe(true)
    expect(p.judgeAddress(PUBLIC, 80, 'example.test').allowed).toBe(true)
    expect(p.judgeAddress(PUBLIC, 8080, 'example.test')).toEqual({ allowed: false, reason: 'not_allowed' })
    expect(p.judgeAddress(PUBLIC, 443, 'api.example.test')).toEqual({ allowed: false, reason: 'not_allowed' })
    expect(p.judgeAddress(PUBLIC, 443, 'badexample.test').allowed).toBe(false)
    expect(p.judgeAddress(PUBLIC, 443)).toEqual({ allowed: false, reason: 'not_allowed' }) // no name, no CIDR
    expect(p.judgeName('example.test', 22)).toEqual({ allowed: false, reason: 'not_allowed' })
    expect(p.allowsNameAtAll('example.test')).toBe(true)
    expect(p.allowsNameAtAll('other.test')).toBe(false)
  })

  it('a wildcard matches subdomains at any depth but never the bare domain', () => {
    const p = compile({ egress: 'allow', allow: ['*.npm.test'] })
    expect(p.judgeAddress(PUBLIC, 443, 'a.npm.test').allowed).toBe(true)
    expect(p.judgeAddress(PUBLIC, 443, 'x.y.npm.test').allowed).toBe(true)
    expect(p.judgeAddress(PUBLIC, 443, 'npm.test').allowed).toBe(false)
    expect(p.judgeAddress(PUBLIC, 443, 'evilnpm.test').allowed).toBe(false)
  })

  it('a port in the pattern covers only that port', () => {
    const p = compile({ egress: 'allow', allow: ['example.test:8443', '203.0.113.0/28:7007'] })
    expect(p.judgeAddress(PUBLIC, 8443, 'example.test').allowed).toBe(true)
    expect(p.judgeAddress(PUBLIC, 443, 'example.test').allowed).toBe(false)
    expect(p.judgeAddress(PUBLIC, 7007).allowed).toBe(true)
    expect(p.judgeAddress(PUBLIC, 80).allowed).toBe(false)
  })

  it('a CIDR matches the address (with or without a name), IPv4-mapped included', () => {
    const p = compile({ egress: 'allow', allow: ['203.0.113.0/28', '2001:db8:113::/48'] })
    expect(p.judgeAddress(PUBLIC, 443).allowed).toBe(true)
    expect(p.judgeAddress('::ffff:203.0.113.10', 80).allowed).toBe(true)
    expect(p.judgeAddress(PUBLIC, 443, 'anything.test').allowed).toBe(true)
    expect(p.judgeAddress('203.0.113.16', 443).allowed).toBe(false)
    expect(p.judgeAddress('2001:db8:113:5::10', 443).allowed).toBe(true)
    expect(p.judgeAddress('2001:db8:114::10', 443).allowed).toBe(false)
    // A name may be worth resolving when a CIDR could cover its address.
    expect(p.judgeName('anything.test', 443).allowed).toBe(true)
    expect(p.judgeName('anything.test', 22).allowed).toBe(false)
  })

  it('deny beats allow, and a deny without a port covers every port', () => {
    const p = compile({ egress: 'allow', allow: ['*.example.test', '203.0.113.0/24:22'], deny: ['deny.example.test', '203.0.113.10'] })
    expect(p.judgeAddress('203.0.113.11', 443, 'api.example.test').allowed).toBe(true)
    expect(p.judgeName('deny.example.test', 443)).toEqual({ allowed: false, reason: 'denied_by_rule' })
    expect(p.judgeName('deny.example.test', 9999)).toEqual({ allowed: false, reason: 'denied_by_rule' })
    expect(p.judgeAddress(PUBLIC, 443, 'api.example.test')).toEqual({ allowed: false, reason: 'denied_by_rule' })
    expect(p.judgeAddress(PUBLIC, 22)).toEqual({ allowed: false, reason: 'denied_by_rule' })
    expect(p.judgeAddress('::ffff:203.0.113.10', 22)).toEqual({ allowed: false, reason: 'denied_by_rule' })
    expect(p.allowsNameAtAll('deny.example.test')).toBe(false)
  })

  it('a deny with a port keeps the name in DNS and denies only that port', () => {
    const p = compile({ egress: 'open', deny: ['example.test:80'] })
    expect(p.judgeAddress(PUBLIC, 80, 'example.test').allowed).toBe(false)
    expect(p.judgeAddress(PUBLIC, 443, 'example.test').allowed).toBe(true)
    expect(p.allowsNameAtAll('example.test')).toBe(true)
  })

  it('open allows every public destination on every port, but never the always-denied set', () => {
    const p = compile({ egress: 'open', deny: ['other.test'] })
    expect(p.judgeAddress(PUBLIC, 443, 'example.test').allowed).toBe(true)
    expect(p.judgeAddress('2001:db8::1', 5432).allowed).toBe(true)
    expect(p.judgeAddress(PUBLIC, 443, 'other.test').allowed).toBe(false)
    for (const ip of ['169.254.169.254', '127.0.0.1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '10.0.0.1', '192.0.2.2', 'fe80::1', '::1']) {
      expect(p.judgeAddress(ip, 80, 'example.test'), ip).toEqual({ allowed: false, reason: 'always_denied' })
    }
    expect(p.allowsAddressAtAll('10.1.2.3', 'rebind.test')).toBe(false)
    expect(p.allowsAddressAtAll(PUBLIC, 'rebind.test')).toBe(true)
  })

  it('a name allowed by a domain pattern that resolves to a private address is refused', () => {
    const p = compile({ egress: 'allow', allow: ['rebind.test', '10.0.0.0/8'] })
    expect(p.judgeName('rebind.test', 443).allowed).toBe(true)
    expect(p.judgeAddress('10.1.2.3', 443, 'rebind.test')).toEqual({ allowed: false, reason: 'always_denied' })
    // A CIDR (not an exact address) does not lift the always-denied set either.
    expect(p.judgeAddress('10.1.2.3', 443)).toEqual({ allowed: false, reason: 'always_denied' })
  })

  it('an allow pattern naming the exact address lifts the always-denied set, for its ports only', () => {
    const p = compile({ egress: 'allow', allow: ['10.1.2.3', '169.254.169.254:80', '[::ffff:127.0.0.2]:8080'] })
    expect(p.judgeAddress('10.1.2.3', 443).allowed).toBe(true)
    expect(p.judgeAddress('::ffff:10.1.2.3', 80).allowed).toBe(true)
    expect(p.judgeAddress('10.1.2.3', 22).allowed).toBe(false)
    expect(p.judgeAddress('10.1.2.4', 443)).toEqual({ allowed: false, reason: 'always_denied' })
    expect(p.judgeAddress('169.254.169.254', 80).allowed).toBe(true)
    expect(p.judgeAddress('169.254.169.254', 443).allowed).toBe(false)
    expect(p.judgeAddress('127.0.0.2', 8080).allowed).toBe(true)
    expect(p.allowsAddressAtAll('10.1.2.3', 'db.test')).toBe(true)
    const open = compile({ egress: 'open', allow: ['192.0.2.2:8080'] })
    expect(open.judgeAddress('192.0.2.2', 8080).allowed).toBe(true) // the host's own address, listed exactly
    expect(open.judgeAddress('192.0.2.2', 8081).allowed).toBe(false)
  })

  it('with exactExceptions off (the ECS proxy) nothing lifts the always-denied set, an exact address neither', () => {
    const p = compilePolicy({ egress: 'allow', allow: ['10.1.2.3', '169.254.169.254:80', 'example.test'] }, { hostAddresses: () => new Set(['192.0.2.2']), exactExceptions: false })
    expect(p.judgeAddress('10.1.2.3', 443)).toEqual({ allowed: false, reason: 'always_denied' })
    expect(p.judgeAddress('169.254.169.254', 80)).toEqual({ allowed: false, reason: 'always_denied' })
    expect(p.allowsAddressAtAll('10.1.2.3', 'db.test')).toBe(false)
    expect(p.judgeAddress('203.0.113.9', 443, 'example.test').allowed).toBe(true)
  })

  it('rejects a pattern outside the grammar', () => {
    expect(() => compile({ egress: 'allow', allow: ['http://example.test'] })).toThrow(/not a pattern/)
  })

  it('the default host addresses include this machine\'s loopback and interfaces', () => {
    const p = compilePolicy({ egress: 'open' })
    expect(p.judgeAddress('127.0.0.1', 80).allowed).toBe(false)
    expect(p.judgeAddress(PUBLIC, 80).allowed).toBe(true)
  })
})
