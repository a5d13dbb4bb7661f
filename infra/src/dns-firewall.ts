import { Stack } from 'aws-cdk-lib'
import type * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as route53resolver from 'aws-cdk-lib/aws-route53resolver'
import { Construct } from 'constructs'

/**
 * Names the VPC's own machinery resolves: every AWS API and endpoint (ECS, ECR and its S3 layer
 * bucket, EFS mount targets, Logs, Secrets Manager, SSM, STS, ELB names) and instance host names.
 * Their zones are run by AWS, so a query for a made-up name under them reaches no one who could
 * read data out of it.
 */
export const AWS_DOMAINS: readonly string[] = ['amazonaws.com', '*.amazonaws.com', '*.compute.internal', '*.ec2.internal']

/** Registries whose pulls touch more names than their own (layers come from a CDN). */
const REGISTRY_DOMAINS: Readonly<Record<string, readonly string[]>> = {
  'public.ecr.aws': ['public.ecr.aws', 'd2glxqk2uabbnd.cloudfront.net', 'd5l0dvt14r5h8.cloudfront.net'],
  'docker.io': ['registry-1.docker.io', 'auth.docker.io', 'production.cloudflare.docker.com', 'production.cloudfront.docker.com'],
}

/** Rule group priority among those on the VPC (100..9900; Firewall Manager's own groups go first or last). */
export const DNS_FIREWALL_PRIORITY = 1000

const LABEL_RE = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/

/** Why `domain` cannot be a DNS Firewall entry of ours (`example.com` or `*.example.com`); undefined when it can. */
export function checkDnsDomain(domain: string): string | undefined {
  if (domain === '*') return "would allow every name: set dnsFirewall=false to run without the DNS Firewall instead"
  const name = domain.toLowerCase().replace(/^\*\./, '').replace(/\.$/, '')
  if (name.length === 0 || name.length > 253 || !name.split('.').every((l) => LABEL_RE.test(l))) {
    return 'is not a domain: a name (example.com) or a wildcard for its subdomains (*.example.com)'
  }
  return undefined
}

/** The registry an image reference pulls from, as Docker reads it (no host part: Docker Hub). */
export function registryOf(image: string): string {
  const first = image.split('/')[0]!
  const isHost = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
  if (!isHost || first === 'index.docker.io') return 'docker.io'
  return first.replace(/:\d+$/, '')
}

/** Names a pull of each image resolves, beyond the AWS ones. */
export function registryDomains(images: readonly string[]): string[] {
  return [...new Set(images.flatMap((i) => REGISTRY_DOMAINS[registryOf(i)] ?? [registryOf(i)]))]
}

export interface DnsFirewallProps {
  readonly vpc: ec2.IVpc
  /** Names the VPC's machinery needs (AWS_DOMAINS plus the image registries'). */
  readonly infrastructureDomains: readonly string[]
  /** Names the deployment adds (the egress proxy's destinations among them). */
  readonly allowDomains: readonly string[]
}

/**
 * Route 53 Resolver DNS Firewall on the VPC as a walled garden: listed names resolve (their
 * CNAME chains trusted), every other query is answered NXDOMAIN. Security groups cannot filter
 * the VPC resolver, so without this a sandbox task could still tunnel data out in DNS queries.
 * The firewall applies per VPC, not per subnet: the gateway's proxy resolves through it too.
 */
export class DnsFirewall extends Construct {
  readonly ruleGroup: route53resolver.CfnFirewallRuleGroup
  readonly association: route53resolver.CfnFirewallRuleGroupAssociation

  constructor(scope: Construct, id: string, props: DnsFirewallProps) {
    super(scope, id)
    const prefix = Stack.of(this).stackName
    const list = (listId: string, domains: readonly string[]) =>
      new route53resolver.CfnFirewallDomainList(this, listId, { name: `${prefix}-${listId}`, domains: [...new Set(domains)] })
    const allow = (priority: number, domainList: route53resolver.CfnFirewallDomainList): route53resolver.CfnFirewallRuleGroup.FirewallRuleProperty => ({
      priority, action: 'ALLOW', firewallDomainListId: domainList.attrId,
      // A listed name's CNAME targets (CDNs, ELB names) are answered too: only the asked name is judged.
      firewallDomainRedirectionAction: 'TRUST_REDIRECTION_DOMAIN',
    })
    const rules = [allow(100, list('Infrastructure', props.infrastructureDomains))]
    if (props.allowDomains.length > 0) rules.push(allow(200, list('Allowed', props.allowDomains)))
    rules.push({ priority: 1000, action: 'BLOCK', blockResponse: 'NXDOMAIN', firewallDomainListId: list('Everything', ['*']).attrId })
    this.ruleGroup = new route53resolver.CfnFirewallRuleGroup(this, 'RuleGroup', { name: `${prefix}-walled-garden`, firewallRules: rules })
    this.association = new route53resolver.CfnFirewallRuleGroupAssociation(this, 'Association', {
      firewallRuleGroupId: this.ruleGroup.attrId, vpcId: props.vpc.vpcId, priority: DNS_FIREWALL_PRIORITY,
      name: `${prefix}-walled-garden`,
      // Enabled, it would also stop `cdk destroy` from removing the association.
      mutationProtection: 'DISABLED',
    })
  }
}
