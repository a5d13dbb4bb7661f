import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadGatewayConfig } from './load.ts'

const dir = mkdtempSync(join(tmpdir(), 'infra-lab-config-ecs-'))
const file = (name: string, content: unknown) => {
  const p = join(dir, name)
  writeFileSync(p, JSON.stringify(content))
  return p
}
const errorsOf = (r: ReturnType<typeof loadGatewayConfig>) => (r.ok ? [] : r.errors)

describe('the ecs section of the gateway config', () => {
  it('takes --driver ecs with --cluster, --task-definition, --subnets and parses lists and capacity providers', () => {
    const r = loadGatewayConfig({
      driver: 'ecs', cluster: 'lab', taskDefinition: 'lab-sandbox:3', subnets: 'subnet-a, subnet-b',
      securityGroups: 'sg-1', capacityProvider: ['lab-ec2:2:1', 'FARGATE_SPOT'],
    }, {}, dir)
    expect(errorsOf(r)).toEqual([])
    expect(r.ok && r.config.pools[0]).toMatchObject({ name: 'default', driver: 'ecs' })
    expect(r.ok && r.config.ecs).toEqual({
      cluster: 'lab', taskDefinition: 'lab-sandbox:3', subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-1'],
      capacityProviders: [{ capacityProvider: 'lab-ec2', weight: 2, base: 1 }, { capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }],
    })
    expect(r.ok && Object.isFrozen(r.config.ecs?.subnets)).toBe(true)
  })

  it('merges field by field: flag over INFRA_LAB_ECS_* over the file', () => {
    const cfg = file('ecs.json', { driver: 'ecs', ecs: { cluster: 'from-file', taskDefinition: 'file-td:1', subnets: ['subnet-file'], region: 'eu-west-1' } })
    const r = loadGatewayConfig({ config: cfg, cluster: 'from-flag' }, {
      INFRA_LAB_ECS_CLUSTER: 'from-env', INFRA_LAB_ECS_SUBNETS: 'subnet-env', INFRA_LAB_ECS_CAPACITY_PROVIDERS: 'FARGATE:1:2',
      INFRA_LAB_ECS_AGENT_KEY: 'k'.repeat(40),
    }, dir)
    expect(errorsOf(r)).toEqual([])
    expect(r.ok && r.config.ecs).toEqual({
      cluster: 'from-flag', taskDefinition: 'file-td:1', subnets: ['subnet-env'], region: 'eu-west-1',
      capacityProviders: [{ capacityProvider: 'FARGATE', weight: 1, base: 2 }], agentKey: 'k'.repeat(40),
    })
  })

  it('says which required field is missing and where to set it, all at once', () => {
    const errors = errorsOf(loadGatewayConfig({ driver: 'ecs', cluster: 'lab' }, {}, dir))
    expect(errors).toEqual([
      'ecs.taskDefinition: required by the ecs driver (--task-definition, INFRA_LAB_ECS_TASK_DEFINITION, or "ecs": {"taskDefinition": …} in the config file)',
      'ecs.subnets: required by the ecs driver (--subnets, INFRA_LAB_ECS_SUBNETS, or "ecs": {"subnets": …} in the config file)',
    ])
    const pool = file('ecs-pool.json', { pools: [{ name: 'shells', driver: 'ecs' }] })
    expect(errorsOf(loadGatewayConfig({ config: pool }, {}, dir)).join('\n')).toMatch(/ecs\.cluster: required/)
  })

  it('names the field of every bad value', () => {
    const errors = errorsOf(loadGatewayConfig({
      driver: 'ecs', cluster: 'lab', taskDefinition: 'td', subnets: 'subnet-a,vpc-b', securityGroups: 'default', capacityProvider: ['ok', 'bad:x'],
    }, { INFRA_LAB_ECS_AGENT_KEY: 'short' }, dir)).join('\n')
    expect(errors).toContain('ecs.subnets.1: must be a subnet id')
    expect(errors).toContain('ecs.securityGroups.0: must be a security group id')
    expect(errors).toContain('ecs.capacityProviders.1: must be name[:weight[:base]]')
    expect(errors).toContain('ecs.agentKey: must be at least 32 characters')
    const unknown = errorsOf(loadGatewayConfig({ config: file('typo.json', { ecs: { clustr: 'x' } }) }, {}, dir))
    expect(unknown.join('\n')).toContain('ecs: unknown option(s) clustr')
  })

  it('leaves other drivers alone: no section, no requirement', () => {
    const r = loadGatewayConfig({ driver: 'local' }, {}, dir)
    expect(r.ok && r.config.ecs).toBeUndefined()
  })
})
