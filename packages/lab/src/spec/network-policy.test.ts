import { describe, expect, it } from 'vitest'
import { normalizeHostName, parseEgressPattern } from './network-policy.ts'

describe('egress pattern grammar', () => {
  it('parses domains, wildcards, CIDRs, addresses and ports', () => {
    expect(parseEgressPattern('Example.COM.')).toEqual({ kind: 'domain', name: 'example.com' })
    expect(parseEgressPattern('example.com:8443')).toEqual({ kind: 'domain', name: 'example.com', port: 8443 })
    expect(parseEgressPattern('*.npmjs.org')).toEqual({ kind: 'wildcard', suffix: 'npmjs.org' })
    expect(parseEgressPattern('203.0.113.0/24')).toEqual({ kind: 'cidr', family: 4, address: '203.0.113.0', prefix: 24, exact: false })
    expect(parseEgressPattern('203.0.113.0/24:5432')).toMatchObject({ kind: 'cidr', prefix: 24, port: 5432 })
    expect(parseEgressPattern('169.254.169.254')).toEqual({ kind: 'cidr', family: 4, address: '169.254.169.254', prefix: 32, exact: true })
    expect(parseEgressPattern('2001:DB8::/32')).toEqual({ kind: 'cidr', family: 6, address: '2001:db8::', prefix: 32, exact: false })
    expect(parseEgressPattern('[2001:db8::1]:443')).toEqual({ kind: 'cidr', family: 6, address: '2001:db8::1', prefix: 128, exact: true, port: 443 })
    expect(parseEgressPattern('2001:db8::1')).toMatchObject({ kind: 'cidr', exact: true })
  })

  it('refuses everything else', () => {
    for (const bad of ['', ' ', 'a b', '*', '*.', '**.x.com', 'x.*.com', 'ex_ample..com', '-x.com', 'x-.com', 'x.com:', 'x.com:0', 'x.com:65536', 'x.com:1:2',
      '1.2.3', '1.2.3.4/33', '::1/129', '[::1', '[::1]x', '256.1.1.1', '0x7f.1', 'a'.repeat(64) + '.com', `${'a.'.repeat(130)}com`, 'x.com/24']) {
      expect(parseEgressPattern(bad), bad).toBeUndefined()
    }
  })

  it('normalizes host names and refuses numeric disguises', () => {
    expect(normalizeHostName('API.Example.com.')).toBe('api.example.com')
    expect(normalizeHostName('127.0.0.1')).toBeUndefined()
    expect(normalizeHostName('2130706433')).toBeUndefined()
  })
})
