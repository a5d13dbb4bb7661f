import { App, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'
import { GoldenImageStack } from './golden-image-stack.ts'
import { LabStack } from './lab-stack.ts'
import { settingsFromContext } from './settings.ts'

const app = new App()
const settings = settingsFromContext((k) => app.node.tryGetContext(k))
const env = settings.account && settings.region ? { account: settings.account, region: settings.region } : settings.region ? { region: settings.region } : undefined
new LabStack(app, 'InfraLab', { settings, ...(env ? { env } : {}) })
new GoldenImageStack(app, 'InfraLabGoldenImage', { settings, ...(env ? { env } : {}) })
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }))
app.synth()
