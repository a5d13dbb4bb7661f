import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { App } from 'aws-cdk-lib'
import { Match, Template } from 'aws-cdk-lib/assertions'
import { beforeAll, describe, expect, it } from 'vitest'
import { LabStack } from '../src/lab-stack.ts'
import { SANDBOX_ENTRYPOINT } from '../src/sandbox-task.ts'
import { DEFAULT_SETTINGS, settingsFromContext } from '../src/settings.ts'
import { nagFindings } from './nag.ts'

describe('LabStack', () => {
  let stack: LabStack
  let t: Template
  beforeAll(() => {
    const app = new App()
    stack = new LabStack(app, 'InfraLab', {
      settings: { ...DEFAULT_SETTINGS, warmPoolSize: 3, asgMax: 6, warmPoolState: 'Hibernated', sandboxImage: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/sandbox:v1', certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc' },
    })
    t = Template.fromStack(stack)
  })

  it('keeps a hibernated warm pool of 3, at most asgMax prepared', () => {
    t.resourceCountIs('AWS::AutoScaling::WarmPool', 1)
    t.hasResourceProperties('AWS::AutoScaling::WarmPool', { MinSize: 3, MaxGroupPreparedCapacity: 6, PoolState: 'Hibernated', InstanceReusePolicy: { ReuseOnScaleIn: true } })
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: Match.objectLike({ HibernationOptions: { Configured: true }, MetadataOptions: Match.objectLike({ HttpTokens: 'required' }) }) })
  })

  it('user data configures the ECS agent for warm pools and pre-pulls the sandbox image', () => {
    const lt = Object.values(t.findResources('AWS::EC2::LaunchTemplate'))[0] as { Properties: { LaunchTemplateData: { UserData: unknown } } }
    const userData = JSON.stringify(lt.Properties.LaunchTemplateData.UserData)
    expect(userData).toContain('ECS_WARM_POOLS_CHECK=true')
    expect(userData).toContain('ECS_IMAGE_PULL_BEHAVIOR=prefer-cached')
    expect(userData).toContain('docker pull 123456789012.dkr.ecr.eu-west-1.amazonaws.com/sandbox:v1')
    expect(userData).toContain('aws ecr get-login-password --region eu-west-1')
    expect(userData).toMatch(/^\{"Fn::Base64":\{"Fn::Join":\["",\["#!\/bin\/bash\\n/)
    expect(userData).toMatch(/ECS_CLUSTER=",\{"Ref":"ShellsCluster/)
    expect(userData.indexOf('ECS_WARM_POOLS_CHECK')).toBeLessThan(userData.indexOf('docker pull'))
  })

  it('blocks instance metadata for the sandbox tasks (awsvpc) in the ECS agent config', () => {
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        UserData: { 'Fn::Base64': { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp("echo 'ECS_AWSVPC_BLOCK_IMDS=true' >> /etc/ecs/ecs.config")])] } },
      }),
    })
    t.hasResourceProperties('AWS::ECS::TaskDefinition', { NetworkMode: 'awsvpc' })
  })

  it('has an EC2 capacity provider with managed scaling at the target capacity, plus Fargate', () => {
    t.hasResourceProperties('AWS::ECS::CapacityProvider', {
      AutoScalingGroupProvider: Match.objectLike({ ManagedScaling: Match.objectLike({ Status: 'ENABLED', TargetCapacity: 100 }), ManagedTerminationProtection: 'DISABLED' }),
    })
    t.hasResourceProperties('AWS::ECS::ClusterCapacityProviderAssociations', { CapacityProviders: Match.arrayWith(['FARGATE', 'FARGATE_SPOT']) })
  })

  it('workspaces: encrypted elastic EFS and one shared access point without a forced POSIX user', () => {
    t.hasResourceProperties('AWS::EFS::FileSystem', { Encrypted: true, ThroughputMode: 'elastic', PerformanceMode: 'generalPurpose' })
    t.hasResourceProperties('AWS::EFS::AccessPoint', { RootDirectory: { Path: '/workspaces', CreationInfo: { OwnerUid: '0', OwnerGid: '0', Permissions: '0711' } }, PosixUser: Match.absent() })
    t.resourceCountIs('AWS::EFS::AccessPoint', 1)
  })

  it('sandbox task: EFS through the access point with IAM and TLS, read-only root, capabilities dropped, no public IP', () => {
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      NetworkMode: 'awsvpc', RequiresCompatibilities: ['EC2', 'FARGATE'], Cpu: '512', Memory: '1024',
      Volumes: Match.arrayWith([Match.objectLike({ Name: 'workspaces', EFSVolumeConfiguration: Match.objectLike({ TransitEncryption: 'ENABLED', AuthorizationConfig: Match.objectLike({ IAM: 'ENABLED' }) }) })]),
      ContainerDefinitions: [Match.objectLike({
        Name: 'sandbox', ReadonlyRootFilesystem: true, User: '0', EntryPoint: SANDBOX_ENTRYPOINT,
        LinuxParameters: Match.objectLike({ Capabilities: { Drop: ['ALL'], Add: ['CHOWN', 'SETUID', 'SETGID'] }, InitProcessEnabled: true }),
      })],
    })
    t.hasResourceProperties('AWS::ECS::Service', { NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) } })
  })

  it("sandbox task: starts the agent where the sandbox image puts it (the Dockerfile's ENTRYPOINT), with its exec helper beside it", () => {
    const dockerfile = readFileSync(new URL('../../docker/sandbox.Dockerfile', import.meta.url), 'utf8')
    const entry = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)
    expect(entry, 'the Dockerfile has an exec-form ENTRYPOINT').not.toBeNull()
    expect(JSON.parse(entry![1]!)).toEqual(SANDBOX_ENTRYPOINT)
    expect(dockerfile).toContain(`${dirname(SANDBOX_ENTRYPOINT[1]!)}/lab-exec`)
  })

  it('gateway role: RunTask only for the sandbox family on this cluster, PassRole only for the sandbox roles', () => {
    const policies = JSON.stringify(t.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('GatewayTaskTaskRole') } }))
    expect(policies).toContain('"Action":"ecs:RunTask","Condition":{"ArnEquals":{"ecs:cluster"')
    expect(policies).toContain('"Action":"iam:PassRole","Condition":{"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}')
    expect(policies).not.toMatch(/"Action":"ecs:\*"|"Resource":"\*"/)
  })

  it('gateway: HTTPS with HTTP redirect; long idle timeout for WebSockets', () => {
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Protocol: 'HTTPS' })
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 80, DefaultActions: [Match.objectLike({ Type: 'redirect' })] })
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { LoadBalancerAttributes: Match.arrayWith([{ Key: 'idle_timeout.timeout_seconds', Value: '3600' }]) })
  })

  it('settings from context are checked', () => {
    expect(() => settingsFromContext((k) => ({ warmPoolSize: '9', asgMax: '4', warmPoolState: 'Frozen' } as Record<string, string>)[k])).toThrow(
      /warmPoolState must be Stopped, Hibernated or Running; warmPoolSize 9 exceeds asgMax 4/,
    )
    expect(settingsFromContext((k) => ({ useGoldenAmi: 'true', instanceType: 'c7i.large' } as Record<string, string>)[k])).toMatchObject({ useGoldenAmi: true, instanceType: 'c7i.large' })
  })

  it('has no unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(nagFindings(stack)).toEqual([])
  })
})
