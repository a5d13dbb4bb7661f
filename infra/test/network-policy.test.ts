import type { Template } from 'aws-cdk-lib/assertions'
import { Match } from 'aws-cdk-lib/assertions'
import { beforeAll, describe, expect, it } from 'vitest'
import { SANDBOX_PROXY_PORT } from '../../packages/lab/src/spec/network-policy.ts'
import { checkDnsDomain, registryDomains, registryOf } from '../src/dns-firewall.ts'
import { PROXY_PORT } from '../src/egress-proxy.ts'
import { LabStack } from '../src/lab-stack.ts'
import { settingsFromContext } from '../src/settings.ts'
import { nagFindings } from './nag.ts'
import { logicalId, type Resources, routingOf, rules, subnetsOf, synth, target } from './template.ts'

describe('network policy on ECS: one gateway task', () => {
  let stack: LabStack
  let t: Template
  let resources: Resources
  let sandboxSg: string, gatewaySg: string, efsSg: string
  beforeAll(() => {
    ({ stack, t, resources } = synth({ gatewayReplicas: 1, dnsAllow: ['registry.npmjs.org', '*.pypi.org'] }))
    sandboxSg = logicalId(resources, 'AWS::EC2::SecurityGroup', 'SandboxSg')
    gatewaySg = logicalId(resources, 'AWS::EC2::SecurityGroup', 'GatewayServiceSecurityGroup')
    efsSg = logicalId(resources, 'AWS::EC2::SecurityGroup', 'WorkspacesFileSystemEfsSecurityGroup')
  })

  it('sandbox tasks may send to the egress proxy (TCP 3128 on the gateway) and to EFS (TCP 2049), nothing else', () => {
    expect(rules(resources, sandboxSg, 'egress')).toEqual([`tcp 2049-2049 ${efsSg}`, `tcp 3128-3128 ${gatewaySg}`].sort())
    // Only the gateway reaches in, to the agent's TLS port.
    expect(rules(resources, sandboxSg, 'ingress')).toEqual([`tcp 7100-7100 ${gatewaySg}`])
  })

  it("the gateway admits the proxy port from sandbox tasks only, and keeps its own way out (NAT) for the proxy's fetches", () => {
    expect(rules(resources, gatewaySg, 'ingress').filter((r) => r.startsWith('tcp 3128'))).toEqual([`tcp 3128-3128 ${sandboxSg}`])
    expect(rules(resources, gatewaySg, 'egress')).toEqual(['-1 undefined-undefined 0.0.0.0/0'])
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Name: 'gateway', PortMappings: Match.arrayWith([{ ContainerPort: PROXY_PORT, Protocol: 'tcp' }]) })],
    })
  })

  it('sandbox tasks run in isolated subnets: their route tables hold no route at all (no NAT, no internet gateway, no endpoint)', () => {
    const isolated = subnetsOf(resources, 'sandbox')
    expect(isolated).toHaveLength(2)
    for (const s of isolated) expect(JSON.stringify(resources[s]!.Properties!.Tags)).toContain('"Key":"aws-cdk:subnet-type","Value":"Isolated"')
    const gatewayTask = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition'
      && JSON.stringify(r.Properties!.ContainerDefinitions).includes('INFRA_LAB_ECS_SUBNETS'))!
    const env = (gatewayTask.Properties!.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[])[0]!.Environment
    const subnets = env.find((e) => e.Name === 'INFRA_LAB_ECS_SUBNETS')!.Value as { 'Fn::Join': [string, unknown[]] }
    expect(subnets['Fn::Join'][1].filter((p) => p !== ',').map(target).sort()).toEqual(isolated.sort())
    expect(target(env.find((e) => e.Name === 'INFRA_LAB_ECS_SECURITY_GROUPS')!.Value)).toBe(sandboxSg)

    const { tables, routes } = routingOf(resources, isolated)
    expect(tables).toHaveLength(2)
    expect(routes).toEqual([])
    const endpointTables = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::VPCEndpoint')
      .flatMap((r) => ((r.Properties!.RouteTableIds ?? []) as unknown[]).map(target))
    expect(endpointTables.length).toBeGreaterThan(0) // the S3 gateway endpoint, for the private subnets
    expect(endpointTables.filter((id) => tables.includes(id))).toEqual([])
    // The gateway itself stays in the private subnets, whose default route is the NAT gateway.
    t.hasResourceProperties('AWS::EC2::Route', { DestinationCidrBlock: '0.0.0.0/0', NatGatewayId: Match.anyValue() })
  })

  it('one gateway: no load balancer for the proxy, and the gateway is not told a proxy host (it gives its own task address)', () => {
    t.resourcePropertiesCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'network' }, 0)
    expect(JSON.stringify(resources)).not.toContain('INFRA_LAB_ECS_PROXY_HOST')
    t.hasResourceProperties('AWS::ECS::Service', { LaunchType: 'FARGATE', DesiredCount: 1 })
  })

  it('DNS Firewall on the VPC: AWS and registry names, then the allowed names, resolve; every other name is NXDOMAIN', () => {
    const lists = Object.fromEntries(Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Route53Resolver::FirewallDomainList')
      .map(([id, r]) => [id, r.Properties!.Domains as string[]]))
    const group = Object.values(resources).find((r) => r.Type === 'AWS::Route53Resolver::FirewallRuleGroup')!
    const ruleList = (group.Properties!.FirewallRules as Record<string, unknown>[]).map((r): Record<string, unknown> => ({ ...r, domains: lists[target(r.FirewallDomainListId)] }))
    expect(ruleList.map((r) => [r.Priority, r.Action])).toEqual([[100, 'ALLOW'], [200, 'ALLOW'], [1000, 'BLOCK']])
    expect(ruleList[0]!.domains).toEqual(expect.arrayContaining(['amazonaws.com', '*.amazonaws.com', 'public.ecr.aws']))
    expect(ruleList[0]!.FirewallDomainRedirectionAction).toBe('TRUST_REDIRECTION_DOMAIN')
    expect(ruleList[1]!.domains).toEqual(['registry.npmjs.org', '*.pypi.org'])
    expect(ruleList[2]).toMatchObject({ domains: ['*'], BlockResponse: 'NXDOMAIN' })
    const vpc = logicalId(resources, 'AWS::EC2::VPC', 'NetworkVpc')
    t.resourceCountIs('AWS::Route53Resolver::FirewallRuleGroupAssociation', 1)
    t.hasResourceProperties('AWS::Route53Resolver::FirewallRuleGroupAssociation', {
      VpcId: { Ref: vpc }, FirewallRuleGroupId: { 'Fn::GetAtt': [Object.keys(resources).find((k) => resources[k] === group), 'Id'] }, MutationProtection: 'DISABLED',
    })
  })

  it('the proxy port is the one sandboxes are told (SANDBOX_PROXY_PORT)', () => {
    expect(PROXY_PORT).toBe(SANDBOX_PROXY_PORT)
  })

  it('has no unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(nagFindings(stack)).toEqual([])
  })
})

describe('network policy on ECS: gateway replicas', () => {
  let stack: LabStack
  let t: Template
  let resources: Resources
  beforeAll(() => {
    ({ stack, t, resources } = synth({ gatewayReplicas: 2 }))
  })

  it('sandbox tasks reach the proxy only through an internal NLB on TCP 3128, which sends only to the gateway tasks', () => {
    const sandboxSg = logicalId(resources, 'AWS::EC2::SecurityGroup', 'SandboxSg')
    const gatewaySg = logicalId(resources, 'AWS::EC2::SecurityGroup', 'GatewayServiceSecurityGroup')
    const efsSg = logicalId(resources, 'AWS::EC2::SecurityGroup', 'WorkspacesFileSystemEfsSecurityGroup')
    const nlbSg = logicalId(resources, 'AWS::EC2::SecurityGroup', 'GatewayEgressProxyNlbSg')
    expect(rules(resources, sandboxSg, 'egress')).toEqual([`tcp 2049-2049 ${efsSg}`, `tcp 3128-3128 ${nlbSg}`].sort())
    expect(rules(resources, nlbSg, 'ingress')).toEqual([`tcp 3128-3128 ${sandboxSg}`])
    expect(rules(resources, nlbSg, 'egress')).toEqual([`tcp 3128-3128 ${gatewaySg}`])
    // With client IP preservation the packets carry the sandbox's address: the target admits the NLB's group.
    expect(rules(resources, gatewaySg, 'ingress').filter((r) => r.startsWith('tcp 3128'))).toEqual([`tcp 3128-3128 ${nlbSg}`])

    t.resourcePropertiesCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'network' }, 1)
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'network', Scheme: 'internal', SecurityGroups: [{ 'Fn::GetAtt': [nlbSg, 'GroupId'] }],
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'load_balancing.cross_zone.enabled', Value: 'true' }]),
    })
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: PROXY_PORT, Protocol: 'TCP' })
  })

  it('the NLB preserves client IPs: IP targets (awsvpc tasks) with preserve_client_ip.enabled on', () => {
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: PROXY_PORT, Protocol: 'TCP', TargetType: 'ip', HealthCheckProtocol: 'TCP',
      TargetGroupAttributes: Match.arrayWith([{ Key: 'preserve_client_ip.enabled', Value: 'true' }]),
    })
    t.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 2, LoadBalancers: Match.arrayWith([Match.objectLike({ ContainerName: 'gateway', ContainerPort: PROXY_PORT })]),
    })
  })

  it("the gateway is told the NLB's DNS name as the sandboxes' proxy host", () => {
    const nlb = Object.keys(resources).find((k) => resources[k]!.Type === 'AWS::ElasticLoadBalancingV2::LoadBalancer' && resources[k]!.Properties!.Type === 'network')!
    t.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({
        Name: 'gateway', Environment: Match.arrayWith([{ Name: 'INFRA_LAB_ECS_PROXY_HOST', Value: { 'Fn::GetAtt': [nlb, 'DNSName'] } }]),
      })],
    })
  })

  it('has no unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(nagFindings(stack)).toEqual([])
  })
})

describe('network policy settings', () => {
  it('without the DNS Firewall, no Route 53 Resolver resource is made', () => {
    const { t } = synth({ dnsFirewall: false })
    for (const type of ['FirewallDomainList', 'FirewallRuleGroup', 'FirewallRuleGroupAssociation']) t.resourceCountIs(`AWS::Route53Resolver::${type}`, 0)
  })

  it('without dnsAllow, only AWS and registry names resolve', () => {
    const { t } = synth({})
    t.resourceCountIs('AWS::Route53Resolver::FirewallDomainList', 2)
    t.hasResourceProperties('AWS::Route53Resolver::FirewallRuleGroup', { FirewallRules: [Match.objectLike({ Action: 'ALLOW' }), Match.objectLike({ Action: 'BLOCK' })] })
  })

  it('context: dnsAllow as a comma list or an array, gatewayReplicas and dnsFirewall, each checked', () => {
    const ctx = (c: Record<string, unknown>) => settingsFromContext((k) => c[k])
    expect(ctx({ dnsAllow: 'Registry.npmjs.org, *.pypi.org', gatewayReplicas: '3', dnsFirewall: 'false' }))
      .toMatchObject({ dnsAllow: ['registry.npmjs.org', '*.pypi.org'], gatewayReplicas: 3, dnsFirewall: false })
    expect(ctx({ dnsAllow: ['example.com'] }).dnsAllow).toEqual(['example.com'])
    expect(ctx({}).dnsAllow).toEqual([])
    expect(() => ctx({ dnsAllow: '*,exa mple.com,-bad-.org', gatewayReplicas: '0' })).toThrow(
      /dnsAllow: "\*" would allow every name: set dnsFirewall=false.*; dnsAllow: "exa mple.com" is not a domain.*; dnsAllow: "-bad-.org" is not a domain.*; gatewayReplicas must be at least 1/,
    )
    expect(checkDnsDomain('*.example.com')).toBeUndefined()
    expect(checkDnsDomain('example.*.com')).toMatch(/is not a domain/)
  })

  it('registry names come from the image references, as Docker reads them', () => {
    expect(registryOf('public.ecr.aws/infra-lab/sandbox:latest')).toBe('public.ecr.aws')
    expect(registryOf('123456789012.dkr.ecr.eu-west-1.amazonaws.com/sandbox:v1')).toBe('123456789012.dkr.ecr.eu-west-1.amazonaws.com')
    expect(registryOf('ubuntu:24.04')).toBe('docker.io')
    expect(registryOf('library/ubuntu')).toBe('docker.io')
    expect(registryOf('ghcr.io/org/img')).toBe('ghcr.io')
    expect(registryOf('localhost:5000/img')).toBe('localhost')
    expect(registryDomains(['public.ecr.aws/a/b', 'public.ecr.aws/c/d', 'ubuntu'])).toEqual([
      'public.ecr.aws', 'd2glxqk2uabbnd.cloudfront.net', 'd5l0dvt14r5h8.cloudfront.net',
      'registry-1.docker.io', 'auth.docker.io', 'production.cloudflare.docker.com', 'production.cloudfront.docker.com',
    ])
  })
})
