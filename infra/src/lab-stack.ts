import { Stack, type StackProps } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import { Construct } from 'constructs'
import { Database } from './database.ts'
import { AWS_DOMAINS, DnsFirewall, registryDomains } from './dns-firewall.ts'
import { Gateway } from './gateway.ts'
import { Network } from './network.ts'
import { SandboxTask } from './sandbox-task.ts'
import type { LabSettings } from './settings.ts'
import { ShellCluster } from './shell-cluster.ts'
import { Workspaces } from './workspaces.ts'

export interface LabStackProps extends StackProps {
  readonly settings: LabSettings
}

/** The whole lab: network and its DNS Firewall, shell cluster with warm pool, workspaces, sandbox task, the gateways and their database. */
export class LabStack extends Stack {
  readonly network: Network
  readonly shells: ShellCluster
  readonly workspaces: Workspaces
  readonly sandbox: SandboxTask
  readonly database: Database
  readonly gateway: Gateway
  readonly dnsFirewall: DnsFirewall | undefined

  constructor(scope: Construct, id: string, props: LabStackProps) {
    super(scope, id, props)
    const s = props.settings
    const image = s.useAiShellImage ? s.aiShellImage : s.sandboxImage
    this.network = new Network(this, 'Network', { interfaceEndpoints: s.interfaceEndpoints, natGateways: s.natGateways })
    const vpc = this.network.vpc
    this.dnsFirewall = s.dnsFirewall
      ? new DnsFirewall(this, 'DnsFirewall', { vpc, infrastructureDomains: [...AWS_DOMAINS, ...registryDomains([image, s.gatewayImage])], allowDomains: s.dnsAllow })
      : undefined
    const clusterName = `${id.toLowerCase()}-shells`
    this.shells = new ShellCluster(this, 'Shells', {
      vpc, clusterName, instanceType: new ec2.InstanceType(s.instanceType), minCapacity: s.asgMin, maxCapacity: s.asgMax,
      warmPoolMinSize: s.warmPoolSize, warmPoolState: s.warmPoolState, sandboxImage: image, targetCapacityPercent: s.targetCapacityPercent,
      fargate: s.fargate, ...(s.useGoldenAmi ? { goldenAmiParameter: s.goldenAmiParameter } : {}),
    })
    this.workspaces = new Workspaces(this, 'Workspaces', { vpc })
    this.sandbox = new SandboxTask(this, 'Sandbox', {
      image, cpu: s.taskCpu, memoryMiB: s.taskMemoryMiB, fileSystem: this.workspaces.fileSystem, accessPoint: this.workspaces.sharedAccessPoint,
    })
    // No egress but what is added to it: NFS to EFS here, the egress proxy in Gateway. (The VPC
    // resolver, instance and task metadata addresses are beyond any security group's reach.)
    const sandboxSg = new ec2.SecurityGroup(this, 'SandboxSg', { vpc, description: 'sandbox task ENIs: agent TLS from the gateway only', allowAllOutbound: false })
    this.workspaces.allowFrom(sandboxSg)
    const providers = [`${clusterName}-ec2:1:0`, ...(s.fargate ? [] : [])].join(',')
    this.database = new Database(this, 'Database', {
      vpc, minCapacityAcu: s.databaseMinCapacityAcu, maxCapacityAcu: s.databaseMaxCapacityAcu, readers: s.databaseReaders,
      deletionProtection: s.databaseDeletionProtection, backupRetentionDays: s.databaseBackupRetentionDays,
      ...(s.databaseCaFile ? { caFile: s.databaseCaFile } : {}),
    })
    this.gateway = new Gateway(this, 'Gateway', {
      vpc, cluster: this.shells.cluster, image: s.gatewayImage, sandboxTask: this.sandbox.taskDefinition, sandboxSecurityGroup: sandboxSg,
      databaseUrl: this.database.url, capacityProviders: providers,
      replicas: s.gatewayReplicas, ...(s.certificateArn ? { certificateArn: s.certificateArn } : {}),
    })
    this.database.allowFrom(this.gateway.service, 'PostgreSQL from gateway tasks')
    // A gateway migrates the store at start: its first tasks wait for the writer and readers to exist.
    this.gateway.service.node.addDependency(this.database.cluster)
  }
}
