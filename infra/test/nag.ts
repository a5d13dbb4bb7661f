import type { Stack } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'

/** Unacknowledged AwsSolutions findings of a stack, as `rule resource` lines. */
export function nagFindings(stack: Stack): string[] {
  const report = new AwsSolutionsChecks(stack).validateScope(stack)
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${(r as { constructPath?: string }).constructPath ?? r.resourceLogicalId}`))
}
