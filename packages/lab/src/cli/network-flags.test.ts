import { describe, expect, it } from 'vitest'
import { parseNetworkFlags } from './network-flags.ts'

describe('--egress, --allow, --deny', () => {
  it('builds a policy, --allow alone meaning allow', () => {
    expect(parseNetworkFlags({})).toBeUndefined()
    expect(parseNetworkFlags({ allow: ['example.com', '*.npmjs.org'] })).toEqual({ egress: 'allow', allow: ['example.com', '*.npmjs.org'] })
    expect(parseNetworkFlags({ egress: 'open', deny: ['203.0.113.0/24'] })).toEqual({ egress: 'open', deny: ['203.0.113.0/24'] })
    expect(parseNetworkFlags({ egress: 'none' })).toEqual({ egress: 'none' })
  })

  it('says what is wrong', () => {
    expect(parseNetworkFlags({ egress: 'some' })).toMatch(/--egress must be one of none, allow, open/)
    expect(parseNetworkFlags({ deny: ['x.com'] })).toMatch(/--deny needs --egress/)
    expect(parseNetworkFlags({ allow: ['x y'] })).toMatch(/--allow "x y" is not a pattern/)
  })
})
