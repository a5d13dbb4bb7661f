import { RemovalPolicy, Stack } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as logs from 'aws-cdk-lib/aws-logs'
import { Construct } from 'constructs'
import { acknowledge } from './acknowledge.ts'

export interface NetworkProps {
  /** Interface endpoints for ECR, ECS and CloudWatch Logs (save NAT traffic for image pulls). Default true. */
  readonly interfaceEndpoints?: boolean
  /** NAT gateways (tasks reach the internet only through them). Default 1. */
  readonly natGateways?: number
}

/** Where sandbox tasks' ENIs go: no route out of the VPC at all (no NAT, no internet gateway, no endpoint route). */
export const SANDBOX_SUBNETS: ec2.SubnetSelection = { subnetGroupName: 'sandbox' }
/** Where the gateway, the shell instances, EFS and the endpoints go: out through NAT. */
export const PRIVATE_SUBNETS: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }
/** Where the gateways' PostgreSQL goes: no route out of the VPC, and apart from the sandboxes' subnets. */
export const DATABASE_SUBNETS: ec2.SubnetSelection = { subnetGroupName: 'database' }

/**
 * VPC: public subnets for the load balancer and NAT only, private subnets (NAT egress) for the
 * gateway, instances and EFS, isolated subnets for sandbox tasks, whose only way out is the
 * gateway's egress proxy (docs/aws.md, Network policy on ECS), and isolated subnets for the
 * gateways' database.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id)
    // 3 AZs when the stack is bound to an account and region (known AZ list), else the 2 CDK can assume.
    const env = Stack.of(this)
    const bound = !env.account.startsWith('${Token') && !env.region.startsWith('${Token')
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY })
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: bound ? 3 : 2,
      natGateways: props.natGateways ?? 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        { name: 'sandbox', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 20 },
        // Last, so the groups above keep the CIDR blocks they had before it existed.
        { name: 'database', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      flowLogs: { all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs), trafficType: ec2.FlowLogTrafficType.REJECT } },
      restrictDefaultSecurityGroup: true,
    })
    // ECR layers come from S3: free. Not routed from the sandbox subnets: S3 reaches every bucket.
    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [PRIVATE_SUBNETS] })
    if (props.interfaceEndpoints ?? true) {
      for (const [name, service] of [
        ['EcrApi', ec2.InterfaceVpcEndpointAwsService.ECR], ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
        ['Ecs', ec2.InterfaceVpcEndpointAwsService.ECS], ['EcsAgent', ec2.InterfaceVpcEndpointAwsService.ECS_AGENT],
        ['EcsTelemetry', ec2.InterfaceVpcEndpointAwsService.ECS_TELEMETRY], ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
      ] as const) {
        const endpoint = this.vpc.addInterfaceEndpoint(name, { service, privateDnsEnabled: true, subnets: PRIVATE_SUBNETS })
        acknowledge(endpoint, { id: 'AwsSolutions-EC23', reason: 'endpoint security groups admit HTTPS from the VPC CIDR only (an intrinsic the rule cannot evaluate)' })
      }
    }
  }
}
