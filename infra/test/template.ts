import { App } from 'aws-cdk-lib'
import { Template } from 'aws-cdk-lib/assertions'
import { expect } from 'vitest'
import { LabStack } from '../src/lab-stack.ts'
import { DEFAULT_SETTINGS, type LabSettings } from '../src/settings.ts'

export type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>

/** The lab stack synthesized with the defaults and `settings` (env-agnostic: two AZs). */
export function synth(settings: Partial<LabSettings>): { stack: LabStack; t: Template; resources: Resources } {
  const stack = new LabStack(new App(), 'InfraLab', { settings: { ...DEFAULT_SETTINGS, ...settings } })
  const t = Template.fromStack(stack)
  return { stack, t, resources: t.toJSON().Resources as Resources }
}

/** The logical id a `Fn::GetAtt [id, GroupId]` or `Ref` points at, else the value as JSON. */
export function target(v: unknown): string {
  const o = v as { 'Fn::GetAtt'?: [string, string]; Ref?: string }
  return o?.['Fn::GetAtt']?.[0] ?? o?.Ref ?? JSON.stringify(v)
}

/** The one resource of `type` whose logical id starts with `idPrefix`. */
export function logicalId(resources: Resources, type: string, idPrefix: string): string {
  const ids = Object.keys(resources).filter((k) => resources[k]!.Type === type && k.startsWith(idPrefix))
  expect(ids, `one ${type} named ${idPrefix}*`).toHaveLength(1)
  return ids[0]!
}

/** Every rule of one direction on a group, inline and standalone, as `proto from-to peer` lines. */
export function rules(resources: Resources, group: string, direction: 'egress' | 'ingress'): string[] {
  const inline = (resources[group]!.Properties![direction === 'egress' ? 'SecurityGroupEgress' : 'SecurityGroupIngress'] ?? []) as Record<string, unknown>[]
  const standalone = Object.values(resources)
    .filter((r) => r.Type === (direction === 'egress' ? 'AWS::EC2::SecurityGroupEgress' : 'AWS::EC2::SecurityGroupIngress') && target(r.Properties!.GroupId) === group)
    .map((r) => r.Properties!)
  return [...inline, ...standalone].map((r) => {
    const peer = r.CidrIp ?? r.CidrIpv6 ?? r.DestinationPrefixListId ?? target(r.DestinationSecurityGroupId ?? r.SourceSecurityGroupId)
    return `${String(r.IpProtocol)} ${String(r.FromPort)}-${String(r.ToPort)} ${String(peer)}`
  }).sort()
}

/** The subnets of one subnet group (`public`, `private`, `sandbox`, `database`). */
export function subnetsOf(resources: Resources, group: string): string[] {
  return Object.keys(resources).filter((k) => resources[k]!.Type === 'AWS::EC2::Subnet'
    && JSON.stringify(resources[k]!.Properties!.Tags).includes(`"Key":"aws-cdk:subnet-name","Value":"${group}"`)).sort()
}

/** The route tables associated with these subnets, and every route in them. */
export function routingOf(resources: Resources, subnets: string[]): { tables: string[]; routes: Record<string, unknown>[] } {
  const tables = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::SubnetRouteTableAssociation' && subnets.includes(target(r.Properties!.SubnetId)))
    .map((r) => target(r.Properties!.RouteTableId))
  const routes = Object.values(resources).filter((r) => r.Type === 'AWS::EC2::Route' && tables.includes(target(r.Properties!.RouteTableId))).map((r) => r.Properties!)
  return { tables, routes }
}
