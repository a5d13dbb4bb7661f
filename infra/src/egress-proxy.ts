import { Duration } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import type * as ecs from 'aws-cdk-lib/aws-ecs'
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2'
import { Construct } from 'constructs'
import { acknowledge } from './acknowledge.ts'
import { PRIVATE_SUBNETS } from './network.ts'

/** The port sandboxes reach the gateway's egress proxy on (SANDBOX_PROXY_PORT in packages/lab's spec; a test keeps them equal). */
export const PROXY_PORT = 3128

export interface EgressProxyProps {
  readonly vpc: ec2.IVpc
  /** The gateway service; its tasks run the proxy and have the NAT egress it needs. */
  readonly service: ecs.FargateService
  readonly containerName: string
  /** The sandbox tasks' group: its only egress to the proxy is added here. */
  readonly sandboxSecurityGroup: ec2.ISecurityGroup
  /** Gateway tasks; 2 or more: the proxy is reached through an internal NLB. */
  readonly replicas: number
}

/**
 * How sandbox tasks reach the gateway's egress proxy (TCP 3128), and nothing else of the gateway.
 * One gateway task: straight to the task's address. Replicas: an internal Network Load Balancer
 * with IP targets and client IP preservation on, because the proxy tells sessions apart by the
 * sandbox task's source address; the NLB's own security group admits sandboxes only.
 */
export class EgressProxy extends Construct {
  /** The proxy's host name for sandboxes (the NLB's DNS name); undefined: the gateway task's own private IP. */
  readonly proxyHost: string | undefined
  readonly loadBalancer: elbv2.NetworkLoadBalancer | undefined

  constructor(scope: Construct, id: string, props: EgressProxyProps) {
    super(scope, id)
    const port = ec2.Port.tcp(PROXY_PORT)
    if (props.replicas < 2) {
      props.service.connections.allowFrom(props.sandboxSecurityGroup, port, 'egress proxy from sandbox tasks')
      this.proxyHost = undefined
      this.loadBalancer = undefined
      return
    }
    const sg = new ec2.SecurityGroup(this, 'NlbSg', { vpc: props.vpc, description: 'egress proxy NLB: sandbox tasks in, gateway tasks out', allowAllOutbound: false })
    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'Nlb', {
      vpc: props.vpc, internetFacing: false, vpcSubnets: PRIVATE_SUBNETS, securityGroups: [sg],
      // A zone may hold no gateway task; its NLB node must still reach the others.
      crossZoneEnabled: true,
    })
    acknowledge(this.loadBalancer, { id: 'AwsSolutions-ELB2', reason: 'access logs need an S3 bucket with its own policy; the proxy logs each session\'s denied destinations itself' })
    this.loadBalancer.connections.allowFrom(props.sandboxSecurityGroup, port, 'egress proxy from sandbox tasks')
    // The gateway admits the NLB's group, not the sandboxes': ELB honours that rule even with client IP
    // preservation on (the packets carry the sandbox's address), and no sandbox can bypass the NLB.
    this.loadBalancer.connections.allowTo(props.service, port, 'egress proxy (and its health checks) to gateway tasks')
    this.loadBalancer.addListener('Proxy', { port: PROXY_PORT, protocol: elbv2.Protocol.TCP }).addTargets('Gateway', {
      port: PROXY_PORT, protocol: elbv2.Protocol.TCP,
      targets: [props.service.loadBalancerTarget({ containerName: props.containerName, containerPort: PROXY_PORT })],
      // IP targets (awsvpc) with TCP default to the NLB's address as source: turn preservation on.
      preserveClientIp: true,
      healthCheck: { protocol: elbv2.Protocol.TCP, interval: Duration.seconds(10), healthyThresholdCount: 2, unhealthyThresholdCount: 2 },
      deregistrationDelay: Duration.seconds(30),
    })
    this.proxyHost = this.loadBalancer.loadBalancerDnsName
  }
}
