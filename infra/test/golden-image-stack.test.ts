import { App } from 'aws-cdk-lib'
import { Match, Template } from 'aws-cdk-lib/assertions'
import { beforeAll, describe, expect, it } from 'vitest'
import { GoldenImageStack } from '../src/golden-image-stack.ts'
import { DEFAULT_SETTINGS } from '../src/settings.ts'
import { nagFindings } from './nag.ts'

describe('GoldenImageStack', () => {
  let stack: GoldenImageStack
  let t: Template
  beforeAll(() => {
    stack = new GoldenImageStack(new App(), 'InfraLabGoldenImage', { settings: DEFAULT_SETTINGS })
    t = Template.fromStack(stack)
  })

  it('bakes the sandbox image into the ECS-optimized AMI and publishes the AMI id to SSM', () => {
    t.hasResourceProperties('AWS::ImageBuilder::Component', { Data: Match.stringLikeRegexp(`docker pull ${DEFAULT_SETTINGS.sandboxImage}`) })
    t.hasResourceProperties('AWS::ImageBuilder::ImageRecipe', { ParentImage: 'ssm:/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id' })
    t.hasResourceProperties('AWS::ImageBuilder::DistributionConfiguration', {
      Distributions: [Match.objectLike({
        AmiDistributionConfiguration: { Name: 'infra-lab-shell-{{ imagebuilder:buildDate }}' },
        SsmParameterConfigurations: [{ ParameterName: '/infra-lab/golden-ami', DataType: 'aws:ec2:image' }],
      })],
    })
    t.resourceCountIs('AWS::ImageBuilder::ImagePipeline', 1)
  })

  it('has no unacknowledged cdk-nag AwsSolutions findings', () => {
    expect(nagFindings(stack)).toEqual([])
  })
})
