import { Validations } from 'aws-cdk-lib'
import type { IConstruct } from 'constructs'

/** Acknowledges cdk-nag rules on a construct and everything below it, each with its reason. */
export function acknowledge(scope: IConstruct, ...rules: { id: string; reason: string }[]): void {
  for (const r of rules) Validations.of(scope).acknowledge(r)
}
