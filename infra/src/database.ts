import { Duration, Fn, RemovalPolicy, SecretValue, Stack } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as logs from 'aws-cdk-lib/aws-logs'
import * as rds from 'aws-cdk-lib/aws-rds'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import { Construct } from 'constructs'
import { acknowledge } from './acknowledge.ts'
import { DATABASE_SUBNETS } from './network.ts'

export const DATABASE_PORT = 5432
export const DATABASE_NAME = 'infralab'
export const DATABASE_USER = 'infralab'
/** Aurora PostgreSQL's major version matches the PostgreSQL the store's tests run against (Debian 13: 17). */
export const DATABASE_ENGINE_VERSION = rds.AuroraPostgresEngineVersion.VER_17_7

/** Left out of the generated password, so it goes into a URL's user-info part without escaping. */
const URL_UNSAFE = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'

export interface DatabaseProps {
  readonly vpc: ec2.IVpc
  /** Aurora Serverless v2 capacity range, in ACUs. */
  readonly minCapacityAcu: number
  readonly maxCapacityAcu: number
  /** Reader instances, each in another AZ than the writer where the VPC has one: failover targets. */
  readonly readers: number
  readonly deletionProtection: boolean
  readonly backupRetentionDays: number
  /** The RDS CA bundle's path inside the gateway image; set: the URL asks for `verify-full` against it. */
  readonly caFile?: string
}

/**
 * The gateways' shared store: Aurora PostgreSQL Serverless v2 in the isolated database subnets,
 * encrypted, with automated backups and a snapshot when the cluster is removed. Its master
 * credentials are generated into Secrets Manager; `url` is a second secret holding the
 * `postgres://` URL the gateways read as INFRA_LAB_DATABASE_URL, built by CloudFormation from a
 * dynamic reference to the first, so no password is ever in the template. No one reaches port
 * 5432 until `allowFrom` admits a peer; the cluster sends nothing out.
 */
export class Database extends Construct {
  readonly cluster: rds.DatabaseCluster
  readonly securityGroup: ec2.SecurityGroup
  readonly url: secretsmanager.Secret

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id)
    this.securityGroup = new ec2.SecurityGroup(this, 'Sg', {
      vpc: props.vpc, description: 'gateway store: PostgreSQL from gateway tasks only', allowAllOutbound: false,
    })
    // A fixed identifier names the log group RDS exports to, so the stack owns it and its retention.
    const identifier = `${Stack.of(this).stackName.toLowerCase()}-store`
    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/rds/cluster/${identifier}/postgresql`, retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY,
    })
    // Writer and readers in different AZs, so a failover moves the writer out of a lost AZ.
    const zones = props.vpc.selectSubnets(DATABASE_SUBNETS).availabilityZones
    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: DATABASE_ENGINE_VERSION }),
      clusterIdentifier: identifier,
      credentials: rds.Credentials.fromGeneratedSecret(DATABASE_USER, { excludeCharacters: URL_UNSAFE }),
      defaultDatabaseName: DATABASE_NAME,
      writer: rds.ClusterInstance.serverlessV2('Writer', { availabilityZone: zones[0]! }),
      // scaleWithWriter: promotion tier 1, sized like the writer, so a failover lands on warm capacity.
      readers: Array.from({ length: props.readers }, (_, i) => rds.ClusterInstance.serverlessV2(`Reader${i + 1}`, {
        scaleWithWriter: true, availabilityZone: zones[(i + 1) % zones.length]!,
      })),
      serverlessV2MinCapacity: props.minCapacityAcu, serverlessV2MaxCapacity: props.maxCapacityAcu,
      vpc: props.vpc, vpcSubnets: DATABASE_SUBNETS, securityGroups: [this.securityGroup], port: DATABASE_PORT,
      storageEncrypted: true,
      deletionProtection: props.deletionProtection, removalPolicy: RemovalPolicy.SNAPSHOT,
      backup: { retention: Duration.days(props.backupRetentionDays), preferredWindow: '03:00-04:00' },
      copyTagsToSnapshot: true,
      // Plaintext connections are refused; the URL always asks for TLS.
      parameters: { 'rds.force_ssl': '1' },
      cloudwatchLogsExports: ['postgresql'],
    })
    this.cluster.node.addDependency(logGroup)

    const password = this.cluster.secret!.secretValueFromJson('password').unsafeUnwrap()
    const tls = props.caFile ? `sslmode=verify-full&sslrootcert=${props.caFile}` : 'sslmode=no-verify'
    this.url = new secretsmanager.Secret(this, 'Url', {
      description: 'INFRA_LAB_DATABASE_URL of the gateway tasks: the store cluster writer endpoint with its generated credentials',
      // The template holds a {{resolve:secretsmanager:…}} reference, which CloudFormation resolves
      // when it writes this secret; the password itself never appears in it.
      secretStringValue: SecretValue.unsafePlainText(Fn.join('', [
        `postgres://${DATABASE_USER}:`, password, '@', this.cluster.clusterEndpoint.socketAddress, `/${DATABASE_NAME}?${tls}`,
      ])),
    })

    const rotation = 'not rotated: a gateway reads its URL at start, so a rotation would break new connections until every task is replaced (docs/aws.md, How the credentials flow)'
    acknowledge(this,
      { id: 'AwsSolutions-SMG4', reason: rotation },
      { id: 'AwsSolutions-RDS6', reason: 'the gateways read one URL with the generated password (INFRA_LAB_DATABASE_URL); IAM tokens expire after 15 minutes and would have to be minted for every new connection' },
    )
    if (!props.deletionProtection) {
      acknowledge(this.cluster, { id: 'AwsSolutions-RDS10', reason: 'deletion protection turned off by the deployer (-c databaseDeletionProtection=false); a final snapshot is still taken' })
    }
  }

  /** Lets `peer` reach PostgreSQL (5432) and nothing else. */
  allowFrom(peer: ec2.IConnectable, description: string): void {
    this.cluster.connections.allowFrom(peer, ec2.Port.tcp(DATABASE_PORT), description)
  }
}
