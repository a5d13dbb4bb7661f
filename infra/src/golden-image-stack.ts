import { Stack, type StackProps } from 'aws-cdk-lib'
import { Construct } from 'constructs'
import { GoldenImage } from './golden-image.ts'
import type { LabSettings } from './settings.ts'

/** The golden AMI pipeline, deployed apart: the lab stack reads its output from SSM. */
export class GoldenImageStack extends Stack {
  readonly image: GoldenImage
  constructor(scope: Construct, id: string, props: StackProps & { readonly settings: LabSettings }) {
    super(scope, id, props)
    const s = props.settings
    this.image = new GoldenImage(this, 'GoldenImage', {
      sandboxImage: s.useAiShellImage ? s.aiShellImage : s.sandboxImage, amiParameterName: s.goldenAmiParameter, instanceType: s.instanceType,
    })
  }
}
