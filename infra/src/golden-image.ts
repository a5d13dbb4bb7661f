import { Stack } from 'aws-cdk-lib'
import * as iam from 'aws-cdk-lib/aws-iam'
import * as imagebuilder from 'aws-cdk-lib/aws-imagebuilder'
import { Construct } from 'constructs'
import { acknowledge } from './acknowledge.ts'

export const ECS_AL2023_AMI_PARAMETER = '/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id'

export interface GoldenImageProps {
  /** The sandbox image baked into the AMI. */
  readonly sandboxImage: string
  /** SSM parameter the pipeline writes the new AMI id to (ShellCluster's goldenAmiParameter). */
  readonly amiParameterName: string
  readonly instanceType?: string
  /** Cron for rebuilds; default weekly. */
  readonly scheduleCron?: string
}

/** EC2 Image Builder: ECS-optimized AL2023 plus the pre-pulled sandbox image, published to SSM. */
export class GoldenImage extends Construct {
  readonly pipeline: imagebuilder.CfnImagePipeline

  constructor(scope: Construct, id: string, props: GoldenImageProps) {
    super(scope, id)
    const component = new imagebuilder.CfnComponent(this, 'PrePull', {
      name: 'infra-lab-sandbox-pre-pull', version: '1.0.0', platform: 'Linux',
      data: [
        'name: sandbox-pre-pull', 'schemaVersion: 1.0', 'phases:', '  - name: build', '    steps:',
        '      - name: pull', '        action: ExecuteBash', '        inputs:', '          commands:',
        '            - systemctl start docker',
        `            - docker pull ${props.sandboxImage}`,
        // Let the ECS agent register fresh on each instance made from the AMI.
        '            - systemctl stop ecs || true', '            - rm -rf /var/lib/ecs/data/* /var/log/ecs/*',
      ].join('\n'),
    })
    const recipe = new imagebuilder.CfnImageRecipe(this, 'Recipe', {
      name: 'infra-lab-shell', version: '1.0.0', parentImage: `ssm:${ECS_AL2023_AMI_PARAMETER}`,
      components: [{ componentArn: component.attrArn }],
      blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { encrypted: true, volumeSize: 30, volumeType: 'gp3', deleteOnTermination: true } }],
    })
    const role = new iam.Role(this, 'BuildRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('EC2InstanceProfileForImageBuilder'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('AmazonEC2ContainerRegistryReadOnly'),
      ],
    })
    for (const p of ['EC2InstanceProfileForImageBuilder', 'AmazonSSMManagedInstanceCore', 'AmazonEC2ContainerRegistryReadOnly']) {
      acknowledge(role, { id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${p}]`, reason: 'the AWS-managed policy the Image Builder build instance needs' })
    }
    const profile = new iam.CfnInstanceProfile(this, 'Profile', { roles: [role.roleName] })
    const infra = new imagebuilder.CfnInfrastructureConfiguration(this, 'Infrastructure', {
      name: 'infra-lab-shell', instanceProfileName: profile.ref, instanceTypes: [props.instanceType ?? 'm6i.large'],
      terminateInstanceOnFailure: true, instanceMetadataOptions: { httpTokens: 'required' },
    })
    const distribution = new imagebuilder.CfnDistributionConfiguration(this, 'Distribution', {
      name: 'infra-lab-shell',
      distributions: [{
        region: Stack.of(this).region,
        // An untyped (`any`) property: CDK passes it as written, so CloudFormation's own casing.
        amiDistributionConfiguration: { Name: 'infra-lab-shell-{{ imagebuilder:buildDate }}' },
        ssmParameterConfigurations: [{ parameterName: props.amiParameterName, dataType: 'aws:ec2:image' }],
      }],
    })
    this.pipeline = new imagebuilder.CfnImagePipeline(this, 'Pipeline', {
      name: 'infra-lab-shell', imageRecipeArn: recipe.attrArn, infrastructureConfigurationArn: infra.attrArn,
      distributionConfigurationArn: distribution.attrArn,
      schedule: { scheduleExpression: props.scheduleCron ?? 'cron(0 4 ? * MON *)', pipelineExecutionStartCondition: 'EXPRESSION_MATCH_ONLY' },
    })
  }
}
