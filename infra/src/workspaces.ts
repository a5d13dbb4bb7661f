import { RemovalPolicy } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as efs from 'aws-cdk-lib/aws-efs'
import { Construct } from 'constructs'

export interface WorkspacesProps {
  readonly vpc: ec2.IVpc
  /** `elastic` (pay per use) or `bursting`. Default elastic. */
  readonly throughput?: 'elastic' | 'bursting'
  readonly removalPolicy?: RemovalPolicy
}

/**
 * EFS for users' workspaces: encrypted, one mount target per private subnet, and one shared
 * access point rooted at /workspaces. It enforces no POSIX user: the agent creates each user's
 * directory owned by that user's uid with mode 0700 (docs/security.md).
 */
export class Workspaces extends Construct {
  readonly fileSystem: efs.FileSystem
  readonly sharedAccessPoint: efs.AccessPoint

  constructor(scope: Construct, id: string, props: WorkspacesProps) {
    super(scope, id)
    this.fileSystem = new efs.FileSystem(this, 'FileSystem', {
      vpc: props.vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, encrypted: true,
      performanceMode: efs.PerformanceMode.GENERAL_PURPOSE,
      throughputMode: props.throughput === 'bursting' ? efs.ThroughputMode.BURSTING : efs.ThroughputMode.ELASTIC,
      enableAutomaticBackups: true, removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      // Only principals whose policy allows it may mount, and only over TLS.
      allowAnonymousAccess: false,
    })
    this.sharedAccessPoint = this.fileSystem.addAccessPoint('Shared', {
      path: '/workspaces', createAcl: { ownerUid: '0', ownerGid: '0', permissions: '0711' },
    })
  }

  /** Lets `peer` reach NFS (2049) and nothing else. */
  allowFrom(peer: ec2.IConnectable): void {
    this.fileSystem.connections.allowDefaultPortFrom(peer, 'NFS from tasks')
  }
}
