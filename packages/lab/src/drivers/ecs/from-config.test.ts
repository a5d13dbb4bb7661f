import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { AGENT_KEY_FILE, agentKeyBytes, ecsOptionsFromConfig, resolveAgentKey } from './from-config.ts'

describe('ECS driver options from the gateway config', () => {
  it('maps the ecs section onto the driver options', () => {
    const key = Buffer.alloc(32, 1)
    const o = ecsOptionsFromConfig({
      cluster: 'lab', taskDefinition: 'td:1', subnets: ['subnet-a'], securityGroups: ['sg-1'],
      capacityProviders: [{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }], region: 'eu-west-1',
    }, key, pino({ level: 'silent' }))
    expect(o).toMatchObject({
      cluster: 'lab', taskDefinition: 'td:1', subnets: ['subnet-a'], securityGroups: ['sg-1'],
      capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }], region: 'eu-west-1', agentKey: key,
    })
  })

  it('takes 64+ hex digits as bytes and any other key (a Secrets Manager password) as UTF-8', () => {
    expect(agentKeyBytes('ab'.repeat(32))).toEqual(Buffer.alloc(32, 0xab))
    expect(agentKeyBytes('x'.repeat(40)).toString()).toBe('x'.repeat(40))
  })

  it('generates an agent key into the data dir once (0600) and reuses it after a restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'infra-lab-ecs-key-'))
    const first = resolveAgentKey(dir, undefined)
    expect(first.source).toBe('generated')
    expect(first.key).toHaveLength(32)
    expect(statSync(join(dir, AGENT_KEY_FILE)).mode & 0o777).toBe(0o600)
    const again = resolveAgentKey(dir, undefined)
    expect(again).toEqual({ key: first.key, source: 'file' })
    expect(resolveAgentKey(dir, 'ab'.repeat(32))).toEqual({ key: Buffer.alloc(32, 0xab), source: 'config' })
    writeFileSync(join(dir, AGENT_KEY_FILE), 'not hex\n')
    expect(resolveAgentKey(dir, undefined).source).toBe('generated')
    expect(readFileSync(join(dir, AGENT_KEY_FILE), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/)
  })
})
