import { Duration } from 'aws-cdk-lib'
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as ecs from 'aws-cdk-lib/aws-ecs'
import * as iam from 'aws-cdk-lib/aws-iam'
import { Construct } from 'constructs'
import { acknowledge } from './acknowledge.ts'
import { shellUserData } from './user-data.ts'

export type WarmPoolState = 'Stopped' | 'Hibernated' | 'Running'

export interface ShellClusterProps {
  readonly vpc: ec2.IVpc
  readonly clusterName: string
  readonly instanceType: ec2.InstanceType
  readonly minCapacity: number
  readonly maxCapacity: number
  /** Instances kept prepared in the warm pool. */
  readonly warmPoolMinSize: number
  /** Most instances prepared (in service + warm); default: maxCapacity. */
  readonly warmPoolMaxPreparedCapacity?: number
  readonly warmPoolState: WarmPoolState
  /** Pulled at boot, so warm-pool instances start tasks without a pull. */
  readonly sandboxImage: string
  /** SSM parameter holding a golden AMI id (GoldenImage); default: the ECS-optimized AL2023 AMI. */
  readonly goldenAmiParameter?: string
  /** Managed scaling target: how full the capacity provider keeps its instances, in %. */
  readonly targetCapacityPercent: number
  readonly fargate: boolean
}

/** ECS cluster on an EC2 Auto Scaling group with a warm pool and image pre-pull, plus optional Fargate. */
export class ShellCluster extends Construct {
  readonly cluster: ecs.Cluster
  readonly autoScalingGroup: autoscaling.AutoScalingGroup
  readonly capacityProvider: ecs.AsgCapacityProvider
  readonly instanceSecurityGroup: ec2.SecurityGroup

  constructor(scope: Construct, id: string, props: ShellClusterProps) {
    super(scope, id)
    this.cluster = new ecs.Cluster(this, 'Cluster', { vpc: props.vpc, clusterName: props.clusterName, containerInsightsV2: ecs.ContainerInsights.ENABLED })
    if (props.fargate) this.cluster.enableFargateCapacityProviders()

    const role = new iam.Role(this, 'InstanceRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AmazonEC2ContainerServiceforEC2Role'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'),
      ],
    })
    const managed = 'AWS-managed ECS instance and SSM policies are the documented minimum for ECS container instances'
    acknowledge(role,
      { id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role]', reason: managed },
      { id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]', reason: managed },
      { id: 'AwsSolutions-IAM5[Action::ecs:Submit*]', reason: 'the ECS agent policy CDK adds for container instances (state change submissions)' },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'ECS agent actions (Poll, DiscoverPollEndpoint, ...) have no resource-level permissions' })
    this.instanceSecurityGroup = new ec2.SecurityGroup(this, 'InstanceSg', { vpc: props.vpc, description: 'shell instances: no inbound; tasks have their own ENIs', allowAllOutbound: true })
    const machineImage = props.goldenAmiParameter
      ? ec2.MachineImage.fromSsmParameter(props.goldenAmiParameter, { os: ec2.OperatingSystemType.LINUX })
      : ecs.EcsOptimizedImage.amazonLinux2023()
    const userData = ec2.UserData.forLinux()
    userData.addCommands(...shellUserData(props.sandboxImage))
    const hibernate = props.warmPoolState === 'Hibernated'
    const launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage, instanceType: props.instanceType, role, securityGroup: this.instanceSecurityGroup, userData,
      requireImdsv2: true, httpPutResponseHopLimit: 2, hibernationConfigured: hibernate, detailedMonitoring: false,
      blockDevices: [{ deviceName: '/dev/xvda', volume: ec2.BlockDeviceVolume.ebs(hibernate ? 60 : 30, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }) }],
    })
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Asg', {
      vpc: props.vpc, vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }, launchTemplate,
      minCapacity: props.minCapacity, maxCapacity: props.maxCapacity,
      healthChecks: autoscaling.HealthChecks.ec2({ gracePeriod: Duration.minutes(2) }),
    })
    acknowledge(this.autoScalingGroup, { id: 'AwsSolutions-AS3', reason: 'scaling events are visible in ECS capacity provider metrics; no SNS topic in this lab' },)
    this.autoScalingGroup.addWarmPool({
      minSize: props.warmPoolMinSize,
      maxGroupPreparedCapacity: props.warmPoolMaxPreparedCapacity ?? props.maxCapacity,
      poolState: autoscaling.PoolState[props.warmPoolState.toUpperCase() as 'STOPPED' | 'HIBERNATED' | 'RUNNING'],
      reuseOnScaleIn: true,
    })
    this.capacityProvider = new ecs.AsgCapacityProvider(this, 'CapacityProvider', {
      capacityProviderName: `${props.clusterName}-ec2`, autoScalingGroup: this.autoScalingGroup,
      enableManagedScaling: true, targetCapacityPercent: props.targetCapacityPercent,
      enableManagedTerminationProtection: false, enableManagedDraining: true, machineImageType: ecs.MachineImageType.AMAZON_LINUX_2,
    })
    // ECS managed draining replaces the CDK's drain-hook Lambda and SNS topic.
    this.cluster.addAsgCapacityProvider(this.capacityProvider, { machineImageType: ecs.MachineImageType.AMAZON_LINUX_2 })
  }
}
