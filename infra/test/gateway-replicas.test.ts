import { Match, type Template } from 'aws-cdk-lib/assertions'
import { beforeAll, describe, expect, it } from 'vitest'
import { GATEWAY_PORT } from '../src/gateway.ts'
import type { LabStack } from '../src/lab-stack.ts'
import { settingsFromContext } from '../src/settings.ts'
import { nagFindings } from './nag.ts'
import { logicalId, type Resources, routingOf, rules, subnetsOf, synth, target } from './template.ts'

type Props = Record<string, unknown>

function props(resources: Resources, id: string): Props {
  return resources[id]!.Properties!
}

/** The ids of every resource of `type`. */
function idsOf(resources: Resources, type: string): string[] {
  return Object.keys(resources).filter((k) => resources[k]!.Type === type).sort()
}

describe('gateway replicas on Aurora PostgreSQL (default settings)', () => {
  let stack: LabStack
  let t: Template
  let resources: Resources
  let service: Props, gatewaySg: string, dbSg: string, cluster: string, urlSecret: string
  beforeAll(() => {
    ({ stack, t, resources } = synth({}))
    service = props(resources, logicalId(resources, 'AWS::ECS::Service', 'GatewayService'))
    gatewaySg = logicalId(resources, 'AWS::EC2::SecurityGroup', 'GatewayServiceSecurityGroup')
    dbSg = logicalId(resources, 'AWS::EC2::SecurityGroup', 'DatabaseSg')
    cluster = logicalId(resources, 'AWS::RDS::DBCluster', 'DatabaseCluster')
    urlSecret = logicalId(resources, 'AWS::SecretsManager::Secret', 'DatabaseUrl')
  })

  it('runs at least two gateway tasks in the private subnets of two AZs, and replaces them one at a time', () => {
    expect(service.DesiredCount).toBeGreaterThanOrEqual(2)
    expect(service.LaunchType).toBe('FARGATE')
    // New task first: the running replicas never drop below the desired count during a deployment.
    expect(service.DeploymentConfiguration).toMatchObject({ MinimumHealthyPercent: 100, MaximumPercent: 200, DeploymentCircuitBreaker: { Enable: true, Rollback: true } })
    expect(service.AvailabilityZoneRebalancing).toBe('ENABLED')
    const subnets = (service.NetworkConfiguration as { AwsvpcConfiguration: { Subnets: unknown[]; AssignPublicIp: string } }).AwsvpcConfiguration
    expect(subnets.AssignPublicIp).toBe('DISABLED')
    const privateSubnets = subnetsOf(resources, 'private')
    expect(subnets.Subnets.map(target).sort()).toEqual(privateSubnets)
    const zones = new Set(privateSubnets.map((s) => JSON.stringify(props(resources, s).AvailabilityZone)))
    expect(zones.size).toBe(2)
  })

  it('sits behind the ALB, which health-checks GET /healthz on every task', () => {
    const group = logicalId(resources, 'AWS::ElasticLoadBalancingV2::TargetGroup', 'GatewayAlb')
    expect(props(resources, group)).toMatchObject({
      Port: GATEWAY_PORT, Protocol: 'HTTP', TargetType: 'ip',
      HealthCheckPath: '/healthz', HealthCheckIntervalSeconds: 10, HealthCheckTimeoutSeconds: 5, HealthyThresholdCount: 2, UnhealthyThresholdCount: 2,
    })
    expect(service.LoadBalancers).toEqual(expect.arrayContaining([{ ContainerName: 'gateway', ContainerPort: GATEWAY_PORT, TargetGroupArn: { Ref: group } }]))
    expect(service.HealthCheckGracePeriodSeconds).toBe(60)
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: group } }] })
  })

  it('keeps its store in Aurora PostgreSQL Serverless v2: encrypted, TLS only, backed up, deletion-protected, a snapshot on removal', () => {
    t.resourceCountIs('AWS::RDS::DBCluster', 1)
    expect(props(resources, cluster)).toMatchObject({
      Engine: 'aurora-postgresql', Port: 5432, DatabaseName: 'infralab',
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
      StorageEncrypted: true, DeletionProtection: true, BackupRetentionPeriod: 7, CopyTagsToSnapshot: true,
      EnableCloudwatchLogsExports: ['postgresql'], VpcSecurityGroupIds: [{ 'Fn::GetAtt': [dbSg, 'GroupId'] }],
    })
    expect(props(resources, cluster).EngineVersion).toMatch(/^17\./)
    t.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Snapshot', UpdateReplacePolicy: 'Snapshot' })
    const parameters = props(resources, target(props(resources, cluster).DBClusterParameterGroupName))
    expect(parameters).toMatchObject({ Family: 'aurora-postgresql17', Parameters: { 'rds.force_ssl': '1' } })
    t.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/rds/cluster/infralab-store/postgresql', RetentionInDays: 30 })
  })

  it('has a serverless writer and a reader in another AZ to fail over to, neither publicly accessible', () => {
    const instances = idsOf(resources, 'AWS::RDS::DBInstance').map((id) => props(resources, id))
    expect(instances).toHaveLength(2)
    for (const i of instances) expect(i).toMatchObject({ DBClusterIdentifier: { Ref: cluster }, DBInstanceClass: 'db.serverless', PubliclyAccessible: false })
    expect(instances.map((i) => i.PromotionTier).sort()).toEqual([0, 1])
    expect(new Set(instances.map((i) => JSON.stringify(i.AvailabilityZone))).size).toBe(2)
  })

  it('puts the database in isolated subnets of its own: no route out of the VPC, apart from the sandboxes', () => {
    const group = props(resources, target(props(resources, cluster).DBSubnetGroupName))
    const database = subnetsOf(resources, 'database')
    expect(database).toHaveLength(2)
    expect((group.SubnetIds as unknown[]).map(target).sort()).toEqual(database)
    for (const s of database) expect(JSON.stringify(props(resources, s).Tags)).toContain('"Key":"aws-cdk:subnet-type","Value":"Isolated"')
    expect(database.filter((s) => subnetsOf(resources, 'sandbox').includes(s))).toEqual([])
    const { tables, routes } = routingOf(resources, database)
    expect(tables).toHaveLength(2)
    expect(routes).toEqual([])
  })

  it('lets only the gateway tasks reach the database, on 5432, and lets the database send nothing', () => {
    expect(rules(resources, dbSg, 'ingress')).toEqual([`tcp 5432-5432 ${gatewaySg}`])
    // CDK's rule for "no egress": a single ICMP rule that matches no packet.
    expect(rules(resources, dbSg, 'egress')).toEqual(['icmp 252-86 255.255.255.255/32'])
    // No other group admits 5432.
    const others = idsOf(resources, 'AWS::EC2::SecurityGroup').filter((g) => g !== dbSg)
    expect(others.flatMap((g) => rules(resources, g, 'ingress')).filter((r) => / 5432-5432 /.test(r))).toEqual([])
  })

  it('generates the credentials in Secrets Manager and gives the gateway only the URL, as an ECS secret', () => {
    const master = logicalId(resources, 'AWS::SecretsManager::Secret', 'InfraLabDatabaseClusterSecret')
    const generate = props(resources, master).GenerateSecretString as { SecretStringTemplate: string; GenerateStringKey: string; ExcludeCharacters: string }
    expect(JSON.parse(generate.SecretStringTemplate)).toEqual({ username: 'infralab' })
    expect(generate.GenerateStringKey).toBe('password')
    // The password goes into the URL's user-info unescaped: no character that ends or escapes it.
    for (const c of ['@', ':', '/', '?', '#', '%', '&', '[', ']']) expect(generate.ExcludeCharacters).toContain(c)
    expect(props(resources, cluster).MasterUserPassword).toEqual({ 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: master }, ':SecretString:password::}}']] })

    const attachment = logicalId(resources, 'AWS::SecretsManager::SecretTargetAttachment', 'DatabaseClusterSecretAttachment')
    expect(props(resources, attachment)).toMatchObject({ SecretId: { Ref: master }, TargetId: { Ref: cluster } })
    expect(props(resources, urlSecret).SecretString).toEqual({
      'Fn::Join': ['', [
        'postgres://infralab:{{resolve:secretsmanager:', { Ref: attachment }, ':SecretString:password::}}@',
        { 'Fn::GetAtt': [cluster, 'Endpoint.Address'] }, ':', { 'Fn::GetAtt': [cluster, 'Endpoint.Port'] }, '/infralab?sslmode=no-verify',
      ]],
    })

    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Name: 'gateway', Secrets: Match.arrayWith([{ Name: 'INFRA_LAB_DATABASE_URL', ValueFrom: { Ref: urlSecret } }]) })],
    })
    // The execution role reads the URL secret; no role is given the master secret itself.
    const policies = JSON.stringify(Object.values(resources).filter((r) => r.Type === 'AWS::IAM::Policy'))
    expect(policies).toMatch(new RegExp(`"Action":\\["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"\\],"Effect":"Allow","Resource":\\{"Ref":"${urlSecret}"\\}`))
    expect(policies).not.toContain(master)
    expect(policies).not.toContain(attachment)
  })

  it('keeps no gateway state on EFS: a scratch data volume, no NFS rule, no EFS permission', () => {
    const task = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition' && JSON.stringify(r.Properties!.ContainerDefinitions).includes('"Name":"gateway"'))!
    expect(task.Properties!.Volumes).toEqual([{ Name: 'data' }])
    const efsSg = logicalId(resources, 'AWS::EC2::SecurityGroup', 'WorkspacesFileSystemEfsSecurityGroup')
    expect(rules(resources, efsSg, 'ingress').filter((r) => r.endsWith(gatewaySg))).toEqual([])
    const gatewayPolicies = JSON.stringify(Object.entries(resources).filter(([k, r]) => r.Type === 'AWS::IAM::Policy' && k.startsWith('Gateway')))
    expect(gatewayPolicies).not.toContain('elasticfilesystem')
  })

  it('has no unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(nagFindings(stack)).toEqual([])
  })
})

describe('gateway replicas: the database settings', () => {
  it('replicas, NAT gateways, capacity, readers, backups, a verified TLS CA and deletion protection off come from the settings; cdk-nag still passes', () => {
    const { stack, t, resources } = synth({
      gatewayReplicas: 3, natGateways: 2, databaseMinCapacityAcu: 1, databaseMaxCapacityAcu: 8.5, databaseReaders: 2, databaseBackupRetentionDays: 14,
      databaseDeletionProtection: false, databaseCaFile: '/etc/ssl/certs/rds-global-bundle.pem',
    })
    expect(props(resources, logicalId(resources, 'AWS::ECS::Service', 'GatewayService')).DesiredCount).toBe(3)
    // One NAT gateway per AZ: each private subnet's default route stays in its own AZ.
    t.resourceCountIs('AWS::EC2::NatGateway', 2)
    const natRoutes = subnetsOf(resources, 'private').map((s) => routingOf(resources, [s]).routes.map((r) => target(r.NatGatewayId)))
    expect(natRoutes.flat()).toHaveLength(2)
    expect(new Set(natRoutes.flat()).size).toBe(2)
    const cluster = props(resources, logicalId(resources, 'AWS::RDS::DBCluster', 'DatabaseCluster'))
    expect(cluster).toMatchObject({ ServerlessV2ScalingConfiguration: { MinCapacity: 1, MaxCapacity: 8.5 }, BackupRetentionPeriod: 14, DeletionProtection: false })
    const instances = idsOf(resources, 'AWS::RDS::DBInstance').map((id) => props(resources, id))
    expect(instances).toHaveLength(3)
    // Two AZs: the writer in one, the readers alternate starting with the other.
    expect(instances.map((i) => [i.PromotionTier, JSON.stringify(i.AvailabilityZone)]).sort()).toEqual([
      [0, JSON.stringify({ 'Fn::Select': [0, { 'Fn::GetAZs': '' }] })],
      [1, JSON.stringify({ 'Fn::Select': [0, { 'Fn::GetAZs': '' }] })],
      [1, JSON.stringify({ 'Fn::Select': [1, { 'Fn::GetAZs': '' }] })],
    ])
    const url = props(resources, logicalId(resources, 'AWS::SecretsManager::Secret', 'DatabaseUrl')).SecretString as { 'Fn::Join': [string, unknown[]] }
    expect(url['Fn::Join'][1].at(-1)).toBe('/infralab?sslmode=verify-full&sslrootcert=/etc/ssl/certs/rds-global-bundle.pem')
    // Deletion protection off is the deployer's choice, acknowledged with its reason.
    expect(nagFindings(stack)).toEqual([])
  })

  it('context values are parsed and checked', () => {
    const ctx = (c: Record<string, unknown>) => settingsFromContext((k) => c[k])
    expect(ctx({})).toMatchObject({ gatewayReplicas: 2, databaseMinCapacityAcu: 0.5, databaseMaxCapacityAcu: 4, databaseReaders: 1, databaseDeletionProtection: true, databaseBackupRetentionDays: 7 })
    expect(ctx({}).databaseCaFile).toBeUndefined()
    expect(ctx({}).natGateways).toBe(1)
    expect(() => ctx({ natGateways: '4' })).toThrow(/natGateways must be 1\.\.3/)
    expect(ctx({ databaseMinCapacityAcu: '1.5', databaseMaxCapacityAcu: '16', databaseReaders: '0', databaseDeletionProtection: 'false', databaseCaFile: '/etc/rds.pem' }))
      .toMatchObject({ databaseMinCapacityAcu: 1.5, databaseMaxCapacityAcu: 16, databaseReaders: 0, databaseDeletionProtection: false, databaseCaFile: '/etc/rds.pem' })
    expect(() => ctx({ databaseMinCapacityAcu: '0.7' })).toThrow(/databaseMinCapacityAcu must be a non-negative multiple of 0\.5/)
    expect(() => ctx({ databaseMinCapacityAcu: '0' })).toThrow(/databaseMinCapacityAcu must be at least 0\.5/)
    expect(() => ctx({ databaseMinCapacityAcu: '8', databaseMaxCapacityAcu: '2' })).toThrow(/databaseMinCapacityAcu 8 exceeds databaseMaxCapacityAcu 2/)
    expect(() => ctx({ databaseMaxCapacityAcu: '300', databaseReaders: '16', databaseBackupRetentionDays: '0', databaseCaFile: 'rds.pem' })).toThrow(
      /databaseMaxCapacityAcu must be at most 256; databaseReaders must be at most 15; databaseBackupRetentionDays must be 1\.\.35; databaseCaFile must be an absolute path/,
    )
    expect(() => ctx({ databaseCaFile: '/etc/rds.pem&sslmode=disable' })).toThrow(/databaseCaFile must be an absolute path/)
  })
})
