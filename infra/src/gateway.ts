import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as ecs from 'aws-cdk-lib/aws-ecs'
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as logs from 'aws-cdk-lib/aws-logs'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import { Construct } from 'constructs'
import { acknowledge } from './acknowledge.ts'
import { EgressProxy, PROXY_PORT } from './egress-proxy.ts'
import { PRIVATE_SUBNETS, SANDBOX_SUBNETS } from './network.ts'

export const GATEWAY_PORT = 8080

export interface GatewayProps {
  readonly vpc: ec2.IVpc
  readonly cluster: ecs.ICluster
  readonly image: string
  readonly sandboxTask: ecs.TaskDefinition
  readonly sandboxSecurityGroup: ec2.ISecurityGroup
  /** The store's `postgres://` URL (Database.url), given to every task as INFRA_LAB_DATABASE_URL. */
  readonly databaseUrl: secretsmanager.ISecret
  /** `name:weight:base` items for the ECS driver. */
  readonly capacityProviders: string
  /** HTTPS with this ACM certificate; HTTP then only redirects. */
  readonly certificateArn?: string
  /** Gateway tasks (default 2), spread over the AZs; 2 or more put the egress proxy behind an internal NLB. */
  readonly replicas?: number
}

/**
 * The gateway: a Fargate service of replicas behind an ALB (WebSocket-friendly idle timeout),
 * all sharing one PostgreSQL store, so any task serves any request and a deployment replaces
 * tasks one by one while the others serve. Each task also runs the sandboxes' egress proxy
 * (EgressProxy): the only place sandbox tasks can send to.
 */
export class Gateway extends Construct {
  readonly service: ecs.FargateService
  readonly loadBalancer: elbv2.ApplicationLoadBalancer
  readonly apiKey: secretsmanager.Secret
  readonly agentKey: secretsmanager.Secret
  readonly egressProxy: EgressProxy

  constructor(scope: Construct, id: string, props: GatewayProps) {
    super(scope, id)
    const stack = Stack.of(this)
    const replicas = props.replicas ?? 2
    this.apiKey = new secretsmanager.Secret(this, 'ApiKey', { generateSecretString: { excludePunctuation: true, passwordLength: 48 } })
    this.agentKey = new secretsmanager.Secret(this, 'AgentKey', {
      description: 'derives the per-task TLS-PSK keys of sandbox tasks',
      generateSecretString: { excludePunctuation: true, passwordLength: 64 },
    })
    for (const s of [this.apiKey, this.agentKey]) {
      acknowledge(s, { id: 'AwsSolutions-SMG4', reason: 'rotating it would cut every live session; rotate by redeploying' })
    }

    const task = new ecs.FargateTaskDefinition(this, 'Task', { cpu: 512, memoryLimitMiB: 1024 })
    // The data directory is the task's own scratch space (Fargate ephemeral storage; the root file
    // system is read-only): everything shared between replicas is in the store.
    task.addVolume({ name: 'data' })
    // ECS: run the sandbox task definition on this cluster only; manage tasks on this cluster only.
    const clusterCondition = { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } }
    const family = props.sandboxTask.family
    task.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ecs:RunTask'], conditions: clusterCondition,
      resources: [stack.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${family}:*` })],
    }))
    task.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ecs:StopTask', 'ecs:DescribeTasks', 'ecs:TagResource'], conditions: clusterCondition,
      resources: [stack.formatArn({ service: 'ecs', resource: 'task', resourceName: `${props.cluster.clusterName}/*` })],
    }))
    task.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['ecs:ListTasks'], conditions: clusterCondition,
      resources: [stack.formatArn({ service: 'ecs', resource: 'container-instance', resourceName: `${props.cluster.clusterName}/*` })],
    }))
    task.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['ecs:DescribeClusters'], resources: [props.cluster.clusterArn] }))
    task.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['iam:PassRole'], resources: [props.sandboxTask.taskRole.roleArn, props.sandboxTask.obtainExecutionRole().roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
    }))
    const scoped = 'task ARNs are only known at run time: scoped to this cluster\'s tasks and the sandbox family\'s revisions'
    acknowledge(task,
      { id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task-definition/${family}:*]`, reason: scoped },
      { id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<${stack.getLogicalId(props.cluster.node.defaultChild as ecs.CfnCluster)}>/*]`, reason: scoped },
      { id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:container-instance/<${stack.getLogicalId(props.cluster.node.defaultChild as ecs.CfnCluster)}>/*]`, reason: scoped },
      { id: 'AwsSolutions-ECS2', reason: 'only non-secret settings (cluster, subnets) are plain environment; keys come from Secrets Manager' },
    )

    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY })
    const container = task.addContainer('gateway', {
      image: ecs.ContainerImage.fromRegistry(props.image),
      command: ['gateway', '--driver', 'ecs', '--host', '0.0.0.0', '--port', String(GATEWAY_PORT), '--data-dir', '/data'],
      readonlyRootFilesystem: true,
      portMappings: [{ containerPort: GATEWAY_PORT }, { containerPort: PROXY_PORT }],
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'gateway' }),
      environment: {
        INFRA_LAB_ECS_CLUSTER: props.cluster.clusterName,
        INFRA_LAB_ECS_TASK_DEFINITION: props.sandboxTask.taskDefinitionArn,
        // Sandbox tasks go to the isolated subnets: no route out but the proxy.
        INFRA_LAB_ECS_SUBNETS: props.vpc.selectSubnets(SANDBOX_SUBNETS).subnetIds.join(','),
        INFRA_LAB_ECS_SECURITY_GROUPS: props.sandboxSecurityGroup.securityGroupId,
        INFRA_LAB_ECS_CAPACITY_PROVIDERS: props.capacityProviders,
      },
      secrets: {
        INFRA_LAB_API_KEY: ecs.Secret.fromSecretsManager(this.apiKey),
        INFRA_LAB_ECS_AGENT_KEY: ecs.Secret.fromSecretsManager(this.agentKey),
        INFRA_LAB_DATABASE_URL: ecs.Secret.fromSecretsManager(props.databaseUrl),
      },
    })
    container.addMountPoints({ sourceVolume: 'data', containerPath: '/data', readOnly: false })

    this.service = new ecs.FargateService(this, 'Service', {
      cluster: props.cluster, taskDefinition: task, desiredCount: replicas,
      // A deployment starts each new task before it stops an old one: the replicas never drop below desired.
      minHealthyPercent: 100, maxHealthyPercent: 200,
      // Private subnets with NAT, one per AZ: ECS spreads Fargate tasks over them, and moves
      // tasks back into an AZ that recovers. The egress proxy fetches through the NAT.
      assignPublicIp: false, vpcSubnets: PRIVATE_SUBNETS, availabilityZoneRebalancing: ecs.AvailabilityZoneRebalancing.ENABLED,
      circuitBreaker: { rollback: true },
      // A new task migrates the store before it serves: failed health checks in its first minute do not count.
      healthCheckGracePeriod: Duration.seconds(60),
    })
    // The agent's TLS port on sandbox tasks is reachable from the gateway only.
    props.sandboxSecurityGroup.connections.allowFrom(this.service, ec2.Port.tcp(7100), 'agent TLS from the gateway')
    this.egressProxy = new EgressProxy(this, 'EgressProxy', {
      vpc: props.vpc, service: this.service, containerName: container.containerName, sandboxSecurityGroup: props.sandboxSecurityGroup, replicas,
    })
    // Unset with one task: sandboxes reach that task's own address (docs/aws.md, what the gateway has to do).
    if (this.egressProxy.proxyHost) container.addEnvironment('INFRA_LAB_ECS_PROXY_HOST', this.egressProxy.proxyHost)

    this.loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'Alb', {
      vpc: props.vpc, internetFacing: true, vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      // Terminal WebSockets stay open while idle: one hour before the ALB drops them.
      idleTimeout: Duration.seconds(3600), dropInvalidHeaderFields: true,
    })
    acknowledge(this.loadBalancer, { id: 'AwsSolutions-ELB2', reason: 'access logs need an S3 bucket with its own policy; enable per deployment (docs/aws.md)' },
      { id: 'AwsSolutions-EC23', reason: 'the public API: reachable from anywhere, guarded by the API key and attach tokens' },)
    const apiTarget = this.service.loadBalancerTarget({ containerName: container.containerName, containerPort: GATEWAY_PORT })
    // /healthz answers 200 on every serving replica, lease holder or not. Two failed checks 10 s
    // apart take a task out; its WebSockets then re-attach through another replica.
    const healthCheck = { path: '/healthz', interval: Duration.seconds(10), timeout: Duration.seconds(5), healthyThresholdCount: 2, unhealthyThresholdCount: 2 }
    const target = { port: GATEWAY_PORT, targets: [apiTarget], healthCheck, deregistrationDelay: Duration.seconds(10) }
    if (props.certificateArn) {
      this.loadBalancer.addListener('Https', {
        port: 443, certificates: [elbv2.ListenerCertificate.fromArn(props.certificateArn)], sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      }).addTargets('Gateway', { ...target, protocol: elbv2.ApplicationProtocol.HTTP })
      this.loadBalancer.addRedirect({ sourcePort: 80, targetPort: 443 })
    } else {
      this.loadBalancer.addListener('Http', { port: 80 }).addTargets('Gateway', { ...target, protocol: elbv2.ApplicationProtocol.HTTP })
    }
  }
}
