import { RemovalPolicy } from 'aws-cdk-lib'
import * as ecs from 'aws-cdk-lib/aws-ecs'
import * as efs from 'aws-cdk-lib/aws-efs'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as logs from 'aws-cdk-lib/aws-logs'
import { Construct } from 'constructs'

export const SANDBOX_CONTAINER = 'sandbox'
export const AGENT_PORT = 7100
/** As the sandbox image starts it (docker/sandbox.Dockerfile's ENTRYPOINT; a test keeps them equal). */
export const SANDBOX_ENTRYPOINT = ['/usr/bin/node', '/opt/infra-lab/agent.mjs']

export interface SandboxTaskProps {
  readonly image: string
  /** Task size: CPU units and MiB (a Fargate-valid pair). */
  readonly cpu: number
  readonly memoryMiB: number
  readonly fileSystem: efs.IFileSystem
  readonly accessPoint: efs.IAccessPoint
}

/**
 * The sandbox task: the agent as entry point (the driver overrides its command with the
 * sandbox id), EFS workspaces through the shared access point with IAM authorization and TLS,
 * read-only root filesystem, all capabilities dropped except the three the agent needs to give
 * each user their own uid (docs/security.md), logs to CloudWatch.
 */
export class SandboxTask extends Construct {
  readonly taskDefinition: ecs.TaskDefinition
  readonly container: ecs.ContainerDefinition

  constructor(scope: Construct, id: string, props: SandboxTaskProps) {
    super(scope, id)
    this.taskDefinition = new ecs.TaskDefinition(this, 'TaskDefinition', {
      compatibility: ecs.Compatibility.EC2_AND_FARGATE, networkMode: ecs.NetworkMode.AWS_VPC,
      cpu: String(props.cpu), memoryMiB: String(props.memoryMiB),
    })
    this.taskDefinition.addVolume({
      name: 'workspaces',
      efsVolumeConfiguration: {
        fileSystemId: props.fileSystem.fileSystemId, transitEncryption: 'ENABLED',
        authorizationConfig: { accessPointId: props.accessPoint.accessPointId, iam: 'ENABLED' },
      },
    })
    for (const name of ['tmp', 'agent-run']) this.taskDefinition.addVolume({ name })
    // Root on NFS is squashed unless granted: the agent needs it to create and chown user dirs.
    this.taskDefinition.taskRole.addToPrincipalPolicy(new iam.PolicyStatement({
      actions: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite', 'elasticfilesystem:ClientRootAccess'],
      resources: [props.fileSystem.fileSystemArn],
      conditions: { StringEquals: { 'elasticfilesystem:AccessPointArn': props.accessPoint.accessPointArn } },
    }))
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.TWO_WEEKS, removalPolicy: RemovalPolicy.DESTROY })
    const linuxParameters = new ecs.LinuxParameters(this, 'Linux', { initProcessEnabled: true })
    linuxParameters.dropCapabilities(ecs.Capability.ALL)
    linuxParameters.addCapabilities(ecs.Capability.CHOWN, ecs.Capability.SETUID, ecs.Capability.SETGID)
    this.container = this.taskDefinition.addContainer(SANDBOX_CONTAINER, {
      image: ecs.ContainerImage.fromRegistry(props.image),
      entryPoint: SANDBOX_ENTRYPOINT,
      command: ['--socket', '/run/agent/agent.sock', '--sandbox-id', 'unset', '--tls-port', String(AGENT_PORT)],
      // uid 0 with three capabilities: the shell itself runs as the user's uid with none.
      user: '0',
      readonlyRootFilesystem: true,
      essential: true,
      linuxParameters,
      portMappings: [{ containerPort: AGENT_PORT, protocol: ecs.Protocol.TCP }],
      logging: ecs.LogDrivers.awsLogs({ logGroup, streamPrefix: 'sandbox' }),
      memoryReservationMiB: Math.min(256, props.memoryMiB),
    })
    this.container.addMountPoints(
      { sourceVolume: 'workspaces', containerPath: '/mnt/workspaces', readOnly: false },
      { sourceVolume: 'tmp', containerPath: '/tmp', readOnly: false },
      { sourceVolume: 'agent-run', containerPath: '/run/agent', readOnly: false },
    )
  }
}
