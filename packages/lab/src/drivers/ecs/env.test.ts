import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { ecsOptionsFromEnv } from './env.ts'

const logger = pino({ level: 'silent' })

describe('ecsOptionsFromEnv', () => {
  it('reads cluster, task definition, subnets, groups, capacity providers and the agent key', () => {
    const r = ecsOptionsFromEnv({
      INFRA_LAB_ECS_CLUSTER: 'lab', INFRA_LAB_ECS_TASK_DEFINITION: 'lab-sandbox:2', INFRA_LAB_ECS_SUBNETS: 'subnet-a, subnet-b',
      INFRA_LAB_ECS_SECURITY_GROUPS: 'sg-1', INFRA_LAB_ECS_CAPACITY_PROVIDERS: 'lab-ec2:2:1,FARGATE_SPOT', INFRA_LAB_ECS_AGENT_KEY: 'ab'.repeat(32),
    }, logger)
    expect(r).toMatchObject({
      options: {
        cluster: 'lab', taskDefinition: 'lab-sandbox:2', subnets: ['subnet-a', 'subnet-b'], securityGroups: ['sg-1'],
        capacityProviderStrategy: [{ capacityProvider: 'lab-ec2', weight: 2, base: 1 }, { capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }],
      },
    })
  })

  it('takes a Secrets Manager password as the agent key too', () => {
    const base = { INFRA_LAB_ECS_CLUSTER: 'c', INFRA_LAB_ECS_TASK_DEFINITION: 't', INFRA_LAB_ECS_SUBNETS: 's' }
    const r = ecsOptionsFromEnv({ ...base, INFRA_LAB_ECS_AGENT_KEY: 'x'.repeat(64) }, logger)
    expect('options' in r && r.options.agentKey.toString()).toBe('x'.repeat(64))
    expect('options' in ecsOptionsFromEnv({ ...base, INFRA_LAB_ECS_AGENT_KEY: 'ab'.repeat(32) }, logger) ? 'ok' : 'err').toBe('ok')
  })

  it('lists everything missing at once', () => {
    expect(ecsOptionsFromEnv({ INFRA_LAB_ECS_AGENT_KEY: 'zz', INFRA_LAB_ECS_CAPACITY_PROVIDERS: 'x:y' }, logger)).toEqual({
      errors: [
        'INFRA_LAB_ECS_CLUSTER is required for --driver ecs', 'INFRA_LAB_ECS_TASK_DEFINITION is required for --driver ecs',
        'INFRA_LAB_ECS_SUBNETS is required for --driver ecs', 'INFRA_LAB_ECS_AGENT_KEY must be 64+ hex digits or 32+ characters',
        'INFRA_LAB_ECS_CAPACITY_PROVIDERS: bad item "x:y" (provider[:weight[:base]])',
      ],
    })
  })
})
