import { Command, InvalidArgumentError, Option } from 'commander'
import type { CliIo, ExitCode } from '../io.ts'
import { REPLAY_HELP, SIM_HELP, TRACE_HELP } from '../sim/help.ts'
import { commaList } from './table.ts'

function int(name: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`)
    return n
  }
}

function num(name: string, min: number, exclusive = false) {
  return (v: string): number => {
    const n = v.trim() === '' ? NaN : Number(v)
    if (!Number.isFinite(n) || n < min || (exclusive && n === min)) throw new InvalidArgumentError(`${name} must be a number ${exclusive ? '>' : '>='} ${min}`)
    return n
  }
}

function numList(name: string) {
  const one = num(name, 0)
  return (v: string): number[] => v.split(',').map(one)
}

function collect(v: string, acc: string[]): string[] {
  return [...acc, v]
}

/**
 * Every command, registered in one place. Each action lazily imports a plain async function
 * and reports its exit code through `done`; main.ts owns the one process.exit.
 */
export function buildProgram(io: CliIo, done: (code: ExitCode) => void, signal: AbortSignal): Command {
  const program = new Command('infra-lab')
    .description('Warm pools of isolated AI-agent shells that start in milliseconds')
    .showHelpAfterError()
    // Options go with the command they follow: `exec` hands everything after its command on to it.
    .enablePositionalOptions()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })

  const clientOpts = (c: Command) => c
    .option('--url <url>', 'gateway URL (env INFRA_LAB_URL)', undefined)
    .option('--key <key>', 'API key (env INFRA_LAB_API_KEY; default: <data dir>/api-key)')
    .option('--data-dir <dir>', 'where the gateway keeps its API key', undefined)

  program.command('gateway')
    .description('run the session gateway with warm pools')
    .addOption(new Option('--driver <name>', 'sandbox driver of the default pool').choices(['local', 'docker', 'ecs', 'fake']))
    .option('--port <port>', 'TCP port (default 8080; 0 picks a free one)', int('--port', 0, 65535))
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--pool-size <n>', 'keep N warm sandboxes in the default pool (fixed policy)', int('--pool-size', 0, 10000))
    .option('--data-dir <dir>', 'state directory (default .infra-lab in the working directory)')
    .option('--workspaces <dir>', "users' workspaces (default <data dir>/workspaces)")
    .option('--workspace-quota <size>', 'disk per user workspace, e.g. 512M, 1G, 2GiB or bytes; 0 or off: no quota (env INFRA_LAB_WORKSPACE_QUOTA; default 1G)')
    .option('--max-upload-bytes <size>', 'largest file upload (PUT /v1/sessions/{id}/files), e.g. 100M, 1G or bytes (env INFRA_LAB_MAX_UPLOAD_BYTES; default 1G)')
    .option('--max-sessions-per-user <n>', 'sessions not ended one user may have at once, whichever key created them (default 10)', int('--max-sessions-per-user', 1, 100_000))
    .option('--max-session-timeout <duration>', "the most a create's timeoutS or idleTimeoutS may ask for, e.g. 12h or 7d (default 7d)")
    .option('--retain-ended <duration>', 'how long ended sessions keep their record before they are purged, e.g. 7d, 12h or seconds (env INFRA_LAB_RETAIN_ENDED; default 7d)')
    .option('--allow-private-webhooks', 'let webhooks be delivered to loopback, link-local and private addresses (refused by default)')
    .option('--store <url>', 'keep state in PostgreSQL, shared by gateway replicas: postgres://user@host:port/database (env INFRA_LAB_DATABASE_URL; default: SQLite in the data dir)')
    .option('--config <file>', 'JSON config file (flags override it, env overrides it too)')
    .option('--teardown', 'remove every sandbox, mount and directory the gateway made, then exit')
    .option('--cluster <name>', 'ecs: cluster of the sandbox tasks (env INFRA_LAB_ECS_CLUSTER)')
    .option('--task-definition <family:rev|arn>', 'ecs: sandbox task definition (env INFRA_LAB_ECS_TASK_DEFINITION)')
    .option('--subnets <ids>', 'ecs: private subnets, comma-separated (env INFRA_LAB_ECS_SUBNETS)')
    .option('--security-groups <ids>', 'ecs: security groups, comma-separated (env INFRA_LAB_ECS_SECURITY_GROUPS)')
    .option('--capacity-provider <name[:weight[:base]]>', 'ecs: capacity provider strategy item, repeatable (env INFRA_LAB_ECS_CAPACITY_PROVIDERS)', collect, [])
    .option('--proxy-host <host>', "ecs: where sandbox tasks reach this gateway's egress proxy (env INFRA_LAB_ECS_PROXY_HOST; default: this task's private IPv4)")
    .action(async (o) => done(await (await import('./commands/gateway.ts')).gatewayCommand(o, io, signal)))

  clientOpts(program.command('shell'))
    .description('open a shell in a new session (or re-attach one) in this terminal')
    .option('--user <name>', 'user the session belongs to (default $USER)')
    .option('--pool <name>', 'pool to claim from (default "default")')
    .option('--attach <id>', 're-attach an existing session instead of creating one')
    .option('--env <NAME=VALUE>', 'environment variable for the shell (repeatable)', collect, [])
    .option('--egress <mode>', 'network policy of the new session: none, allow or open (a network pool only; default the pool\'s)')
    .option('--allow <pattern>', 'allow a domain, *.domain, CIDR or address[:port] (repeatable; implies --egress allow)', collect, [])
    .option('--deny <pattern>', 'deny one (repeatable; beats --allow)', collect, [])
    .action(async (o) => {
      const { shellCommand } = await import('./commands/shell.ts')
      done(await shellCommand(o, { ...io, stdin: process.stdin, stdoutTty: process.stdout }))
    })

  clientOpts(program.command('exec'))
    .description('run a command in a session: its stdout and stderr stream here, its exit status is this one\'s')
    .usage('(--session ID | --user NAME) [options] -- CMD [ARGS...]')
    .argument('<cmd...>', 'the command and its arguments, as argv (no shell: bash -c \'...\' for one)')
    .option('--session <id>', 'run in this existing session')
    .option('--user <name>', 'create a session for this user, run, then end it')
    .option('--pool <name>', 'with --user: the pool to claim from (default "default")')
    .option('--keep', 'with --user: keep the session after the run (its id is printed)')
    .option('--env <NAME=VALUE>', 'environment variable for the command (repeatable)', collect, [])
    .option('--egress <mode>', 'network policy of the new session: none, allow or open (a network pool only; default the pool\'s)')
    .option('--allow <pattern>', 'allow a domain, *.domain, CIDR or address[:port] (repeatable; implies --egress allow)', collect, [])
    .option('--deny <pattern>', 'deny one (repeatable; beats --allow)', collect, [])
    .option('--cwd <dir>', 'working directory, absolute or relative to the home (default: the home)')
    .option('--timeout <s>', 'then kill everything the command started (default 60)', int('--timeout', 1, 3600))
    .option('--tty', 'run in a terminal (its stderr is merged into stdout)')
    .passThroughOptions()
    .addHelpText('after', [
      '',
      'Exit status: the command\'s; 128+n when signal n ended it; 125 when infra-lab exec itself',
      'failed (gateway unreachable, unknown session, ...); 2 for bad options.',
      '',
      'Examples:',
      '  infra-lab exec --user alice -- uname -a',
      '  infra-lab exec --session ses-abc -- bash -c \'make test 2>&1 | tail\'',
    ].join('\n'))
    .action(async (cmd: string[], o) => done(await (await import('./commands/exec.ts')).execCommand(cmd, o, io, signal)))

  clientOpts(program.command('cp'))
    .description('copy a file into or out of a session, streamed (- is stdin or stdout)')
    .usage('[options] SRC DST')
    .argument('<src>', 'a local file, -, or SESSION:PATH')
    .argument('<dst>', 'SESSION:PATH, or a local file, directory or -')
    .addHelpText('after', [
      '',
      'PATH in a session is absolute or relative to the user\'s home; parents are created.',
      'A local path that starts like a session id is written ./ses-…',
      '',
      'Examples:',
      '  infra-lab cp ./data.csv ses-abc:work/data.csv',
      '  infra-lab cp ses-abc:work/out.tar.gz .',
      '  tar c src | infra-lab cp - ses-abc:src.tar',
    ].join('\n'))
    .action(async (src: string, dst: string, o) => {
      const { cpCommand } = await import('./commands/cp.ts')
      done(await cpCommand(src, dst, o, { ...io, stdin: process.stdin }, signal))
    })

  const sessions = program.command('sessions').description('list or end sessions')
  clientOpts(sessions.command('ls'))
    .description('list sessions')
    .option('--user <name>', 'only this user')
    .addOption(new Option('--state <state>', 'only this state').choices(['starting', 'running', 'ended']))
    .option('--label <key=value>', 'only sessions with this label (repeatable: all of them)', collect, [])
    .option('--limit <n>', 'sessions per page (default 100)', int('--limit', 1, 1000))
    .option('--cursor <cursor>', 'the next page: the cursor the page before printed')
    .option('--json', 'print JSON')
    .action(async (o) => done(await (await import('./commands/sessions.ts')).sessionsLsCommand(o, io)))
  clientOpts(sessions.command('network'))
    .description("show a session's network policy and its last denied attempts, or replace the policy with --egress/--allow/--deny")
    .argument('<id>', 'session id')
    .option('--egress <mode>', 'none, allow or open')
    .option('--allow <pattern>', 'allow a domain, *.domain, CIDR or address[:port] (repeatable; implies --egress allow)', collect, [])
    .option('--deny <pattern>', 'deny one (repeatable; beats --allow)', collect, [])
    .option('--json', 'print JSON')
    .action(async (id: string, o) => done(await (await import('./commands/sessions.ts')).sessionsNetworkCommand(id, o, io)))
  clientOpts(sessions.command('kill'))
    .description('end a session')
    .argument('<id>', 'session id')
    .action(async (id: string, o) => done(await (await import('./commands/sessions.ts')).sessionsKillCommand(id, o, io)))

  const keys = program.command('keys')
    .description('scoped API keys (with the admin key): create, list, revoke, rotate')
    .addHelpText('after', [
      '',
      'A scoped key sees and acts only on the sessions of its users and pools, within its quotas;',
      'the admin key (INFRA_LAB_API_KEY / <data dir>/api-key) manages keys. A secret is printed',
      'once, when the key is created or rotated: the gateway keeps only its hash.',
      '',
      'Examples:',
      '  infra-lab keys create --name ci --users \'ci-*\' --pools default --max-sessions 5 --creates-per-min 10',
      '  infra-lab keys ls',
      '  infra-lab keys rotate key-abc',
      '  infra-lab keys revoke key-abc',
    ].join('\n'))
  clientOpts(keys.command('create'))
    .description('create a scoped key and print its secret (shown this once)')
    .requiredOption('--name <name>', 'a name for the audit log (1-64 of A-Z a-z 0-9 . _ -)')
    .option('--users <patterns>', "user names it may act for, comma-separated, one '*' each (e.g. team-a-*); default every user", commaList)
    .option('--pools <names>', 'pools it may use, comma-separated; default every pool', commaList)
    .option('--max-sessions <n>', 'sessions not ended it may have at once', int('--max-sessions', 1, 100_000))
    .option('--creates-per-min <n>', 'creates a minute (a token bucket as deep as the rate)', int('--creates-per-min', 1, 100_000))
    .option('--expires-at <time>', 'refuse it from then on, e.g. 2027-01-31 or 2027-01-31T18:00:00Z')
    .option('--json', 'print JSON')
    .action(async (o) => done(await (await import('./commands/keys.ts')).keysCreateCommand(o, io)))
  clientOpts(keys.command('ls'))
    .description('list keys with their scope, limits and open sessions (never a secret)')
    .option('--json', 'print JSON')
    .action(async (o) => done(await (await import('./commands/keys.ts')).keysLsCommand(o, io)))
  clientOpts(keys.command('revoke'))
    .description('refuse a key from now on (its sessions keep running)')
    .argument('<id>', 'key id (key-…)')
    .option('--json', 'print JSON')
    .action(async (id: string, o) => done(await (await import('./commands/keys.ts')).keysRevokeCommand(id, o, io)))
  clientOpts(keys.command('rotate'))
    .description('give a key a new secret, printed once; the old one is refused at once')
    .argument('<id>', 'key id (key-…)')
    .option('--json', 'print JSON')
    .action(async (id: string, o) => done(await (await import('./commands/keys.ts')).keysRotateCommand(id, o, io)))

  clientOpts(program.command('audit'))
    .description('the audit log (admin key): creates, ends, key and webhook changes, oldest first, a page at a time')
    .option('--since <time>', 'entries at or after it, e.g. 2026-12-01 or 2026-12-01T18:00:00Z')
    .option('--limit <n>', 'entries per page (default 100)', int('--limit', 1, 1000))
    .option('--cursor <cursor>', 'the next page: the cursor the page before printed')
    .option('--json', 'print JSON')
    .action(async (o) => done(await (await import('./commands/audit.ts')).auditCommand(o, io)))

  clientOpts(program.command('mcp'))
    .description('serve the Model Context Protocol on stdin/stdout (for desktop agents): tools create_session, exec, read_file, write_file, list_files, end_session')
    .option('--user <name>', "create_session's user when the agent names none (default $USER)")
    .action(async (o) => done(await (await import('./commands/mcp.ts')).mcpCommand(o, { ...io, stdin: process.stdin }, signal)))

  const bench = program.command('bench').description('benchmarks that write docs/results/')
  bench.command('startup')
    .description('end-to-end time from POST /v1/sessions to the first prompt byte: warm, burst, concurrency sweep, drained pool, cold')
    .option('--sessions <n>', 'sessions per warm run', int('--sessions', 1, 100000), 200)
    .option('--concurrency <c>', 'parallel claims in the burst run', int('--concurrency', 1, 1024), 4)
    .option('--url <url>', 'measure a running gateway instead of starting one (warm run only)')
    .option('--key <key>', 'API key for --url')
    .option('--driver <list>', 'drivers, comma-separated (local,docker); one not available here is skipped', 'local')
    .option('--sweep <list>', 'parallel session starts per level, comma-separated; none skips', '1,4,16,64')
    .option('--sweep-samples <n>', 'samples per sweep level (at least 2 rounds)', int('--sweep-samples', 1, 100000), 64)
    .option('--drained-pool <n>', 'pool of N for the drained run (N+1 users at once; 0 skips)', int('--drained-pool', 0, 1000), 64)
    .option('--drained-rounds <n>', 'rounds of the drained run', int('--drained-rounds', 1, 100), 3)
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--memory-sandboxes <n>', 'warm sandboxes for the memory slope (0 skips)', int('--memory-sandboxes', 0, 1000), 24)
    .option('--json', 'print the results as JSON')
    .action(async (o) => done(await (await import('../bench/startup-command.ts')).benchStartupCommand(o, io, signal)))

  bench.command('fs')
    .description('directory and small-file metadata ops/s and latency (mdtest-style), beside a native C loop and fio')
    .requiredOption('--path <dir>', 'directory on the file system to measure (a scratch dir inside it is removed afterwards)')
    .option('--ops <list>', 'operations', 'mkdir,create,write,stat,readdir,rename,unlink,rmdir')
    .option('--files <n>', 'items per operation and worker', int('--files', 10, 1_000_000), 2000)
    .option('--concurrency <list>', 'worker threads, comma-separated levels', '1,4,16')
    .option('--warmup <n>', 'items per operation and worker excluded as warm-up', int('--warmup', 0, 100_000), 50)
    .option('--rounds <n>', 'rounds (each followed by a native run); median ops/s', int('--rounds', 1, 100), 3)
    .option('--no-native', 'skip the native C loop ceiling')
    .option('--no-fio', 'skip the fio reference')
    .option('--name <name>', 'results file suffix (default: the file system type)')
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--json', 'print the results as JSON')
    .action(async (o) => done(await (await import('../bench/fs-command.ts')).benchFsCommand(o, io, signal)))

  bench.command('api')
    .description('driver control-plane latency: create (start + hello), list, connect, destroy')
    .option('--driver <name>', 'local, docker or ecs (ecs needs AWS credentials)', 'local')
    .option('--calls <n>', 'sandboxes to create and destroy', int('--calls', 1, 10000), 30)
    .option('--concurrency <c>', 'creates at once', int('--concurrency', 1, 256), 1)
    .option('--warmup <n>', 'create/destroy pairs excluded as warm-up', int('--warmup', 0, 100), 2)
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--json', 'print the results as JSON')
    .action(async (o) => done(await (await import('../bench/api-command.ts')).benchApiCommand(o, io, signal)))

  bench.command('ecs')
    .description('AWS: cold ECS task (RunTask -> RUNNING -> agent hello, image-pull share) vs claim from a warm task, on a deployed cluster; needs credentials')
    .option('--cluster <name>', 'cluster (env INFRA_LAB_ECS_CLUSTER)')
    .option('--task-definition <family:rev|arn>', 'sandbox task definition (env INFRA_LAB_ECS_TASK_DEFINITION)')
    .option('--subnets <ids>', 'private subnets, comma-separated (env INFRA_LAB_ECS_SUBNETS)')
    .option('--security-groups <ids>', 'security groups, comma-separated (env INFRA_LAB_ECS_SECURITY_GROUPS)')
    .option('--capacity-provider <name[:weight[:base]]>', 'capacity provider strategy item, repeatable (env INFRA_LAB_ECS_CAPACITY_PROVIDERS)', collect, [])
    .option('--region <region>', 'AWS region (default: the SDK\'s, AWS_REGION)')
    .option('--samples <n>', 'measured cold tasks (each is then claimed once as a warm task)', int('--samples', 1, 1000), 10)
    .option('--warmup <n>', 'tasks excluded as warm-up', int('--warmup', 0, 100), 1)
    .option('--poll-ms <ms>', 'DescribeTasks interval while waiting for RUNNING', int('--poll-ms', 50, 60_000), 250)
    .option('--task-timeout-s <s>', 'give up on a task not ready by then', int('--task-timeout-s', 10, 3600), 300)
    .option('--agent-port <port>', 'the agent\'s TLS port in the task', int('--agent-port', 1, 65535), 7100)
    .option('--user <name>', 'user of the warm claims (its workspace directory is made once on EFS)', 'infra-lab-bench')
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--json', 'print the results as JSON')
    .action(async (o) => done(await (await import('../bench/ecs-command.ts')).benchEcsCommand(o, io, signal)))

  bench.command('warm-pool')
    .description('AWS: Auto Scaling scale-out from the warm pool vs a cold launch until ECS registers the instance, and its first task with/without the pre-pulled image; needs credentials')
    .option('--asg <name>', 'Auto Scaling group of the shell cluster (env INFRA_LAB_ASG)')
    .option('--cluster <name>', 'cluster (env INFRA_LAB_ECS_CLUSTER)')
    .option('--task-definition <family:rev|arn>', 'sandbox task definition, image pre-pulled by user data (env INFRA_LAB_ECS_TASK_DEFINITION)')
    .option('--unpulled-task-definition <family:rev|arn>', 'same container name, an image the instances do not pre-pull (omit: not measured)')
    .option('--subnets <ids>', 'private subnets for the tasks, comma-separated (env INFRA_LAB_ECS_SUBNETS)')
    .option('--security-groups <ids>', 'security groups, comma-separated (env INFRA_LAB_ECS_SECURITY_GROUPS)')
    .option('--region <region>', 'AWS region (default: the SDK\'s, AWS_REGION)')
    .option('--modes <list>', 'warm, cold or warm,cold', 'warm,cold')
    .option('--trials <n>', 'trials per mode', int('--trials', 1, 100), 3)
    .option('--poll-ms <ms>', 'polling interval', int('--poll-ms', 100, 60_000), 1000)
    .option('--timeout-s <s>', 'give up on an instance or task (and on the warm pool refilling) after', int('--timeout-s', 30, 7200), 900)
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--json', 'print the results as JSON')
    .action(async (o) => done(await (await import('../bench/warm-pool-command.ts')).benchWarmPoolCommand(o, io, signal)))

  bench.command('backpressure')
    .description('one terminal viewer that never reads a flood of output: the gateway\'s memory, and another session\'s echo round trip with and without the flood (local driver)')
    .option('--flood-mib <n>', 'output of each flood, MiB (yes | head -c <n>M)', int('--flood-mib', 1, 100_000), 400)
    .option('--rounds <n>', 'rounds of (no flood, flood)', int('--rounds', 1, 100), 3)
    .option('--baseline-samples <n>', 'echo round trips per no-flood phase', int('--baseline-samples', 1, 100_000), 200)
    .option('--gap-ms <ms>', 'pause between two round trips', int('--gap-ms', 0, 10_000), 10)
    .option('--note <text>', 'a line for the results about the conditions (e.g. a shared, loaded machine)')
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--json', 'print the results as JSON')
    .action(async (o) => done(await (await import('../bench/backpressure-command.ts')).benchBackpressureCommand({ ...o, floodMiB: o.floodMib }, io, signal)))

  bench.command('load')
    .description('concurrent users end to end (create, first byte, a command, end): outcomes by code, latency per step, sessions/s, the gateway\'s RSS and descriptors, the pool\'s counts against the host')
    .option('--driver <list>', 'drivers, comma-separated (local,docker); one not available here is skipped', 'local')
    .option('--sessions <n>', 'sessions in all', int('--sessions', 1, 10_000_000), 1000)
    .option('--duration-s <s>', 'run for this long instead of --sessions', int('--duration-s', 1, 7 * 86_400))
    .option('--concurrency <c>', 'concurrent clients (each its own user)', int('--concurrency', 1, 1024), 16)
    .option('--pool-size <n>', 'warm sandboxes of the pool', int('--pool-size', 0, 1000), 8)
    .option('--max-size <n>', 'the pool\'s maxSize (default: pool size + concurrency)', int('--max-size', 1, 10_000))
    .option('--warmup <n>', 'first sessions left out of the latencies (default: 2 x concurrency)', int('--warmup', 0, 1_000_000))
    .option('--step-timeout-ms <ms>', 'a step that takes longer fails the session', int('--step-timeout-ms', 100, 600_000), 30_000)
    .option('--note <text>', 'a line for the results about the conditions (e.g. a shared, loaded machine)')
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--json', 'print the results as JSON')
    .action(async (o) => done(await (await import('../bench/load-command.ts')).benchLoadCommand(o, io, signal)))

  bench.command('exec')
    .description('the command API against the host: time to first command after create, exec round trip (each beside host spawn and the transport floor, interleaved), a streamed exec and an upload with the gateway\'s and agent\'s RSS (local driver)')
    .option('--iterations <n>', 'measured rounds of every latency series (default 200; --quick 5)', int('--iterations', 1, 1_000_000))
    .option('--warmup <n>', 'rounds left out first (default 10; --quick 2)', int('--warmup', 0, 100_000))
    .option('--stream-mib <n>', 'output of the streamed exec, MiB (default 200; --quick 8)', int('--stream-mib', 1, 100_000))
    .option('--upload-mib <n>', 'size of the upload, MiB (default 1024; --quick 16)', int('--upload-mib', 1, 100_000))
    .option('--pool-size <n>', 'warm sandboxes of the pool (default 3; --quick 2)', int('--pool-size', 1, 64))
    .option('--quick', 'small sizes: checks that the benchmark runs, not figures to publish')
    .option('--note <text>', 'a line for the results about the conditions (e.g. a shared, loaded machine)')
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--json', 'print the results as JSON')
    .action(async (o) => done(await (await import('../bench/exec-command.ts')).benchExecCommand(o, io, signal)))

  bench.command('egress')
    .description('network pools: warm starts with an allow-list against none (interleaved), and CONNECT pass-through and the injecting path against direct loopback transfers (local driver, curl)')
    .option('--rounds <n>', 'measured rounds of warm starts, one of each policy per round (default 100; --quick 4)', int('--rounds', 1, 100_000))
    .option('--warmup <n>', 'rounds left out first (default 5; --quick 1)', int('--warmup', 0, 10_000))
    .option('--pool-size <n>', 'warm sandboxes of the network pool (default 4; --quick 2)', int('--pool-size', 1, 64))
    .option('--mib <n>', 'size of each transfer, MiB (default 200; --quick 8)', int('--mib', 1, 100_000))
    .option('--repeats <n>', 'transfers per path (default 5; --quick 1)', int('--repeats', 1, 1000))
    .option('--quick', 'small sizes: checks that the benchmark runs, not figures to publish')
    .option('--note <text>', 'a line for the results about the conditions (e.g. a shared, loaded machine)')
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--json', 'print the results as JSON')
    .action(async (o) => done(await (await import('../bench/egress-command.ts')).benchEgressCommand(o, io, signal)))

  bench.command('startup-ab')
    .description("is a change free on the warm path? bench startup's warm run of this checkout and of another built one (--base), interleaved, each as a ratio to its own transport floor")
    .requiredOption('--base <dir>', 'a built checkout to compare against (e.g. `git worktree add ../base main && (cd ../base && npm ci)`)')
    .option('--rounds <n>', 'runs per side, alternating ABBA (default 6)', int('--rounds', 2, 1000))
    .option('--sessions <n>', 'warm starts per run (default 100)', int('--sessions', 10, 100_000))
    .option('--note <text>', 'a line for the results about the conditions (e.g. a shared, loaded machine)')
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--json', 'print the results as JSON')
    .action(async (o) => done(await (await import('../bench/startup-ab-command.ts')).benchStartupAbCommand(o, io, signal)))

  bench.command('all')
    .description('every benchmark this machine can run, with a progress bar; writes <out>/README.md')
    .option('--out <dir>', 'results directory', 'docs/results')
    .option('--skip <list>', 'leave out some of fs,api,startup,exec,egress', (v: string) => v.split(',').filter(Boolean), [] as string[])
    .option('--files <n>', 'items per fs operation and worker', int('--files', 10, 1_000_000), 2000)
    .action(async (o) => done(await (await import('../bench/all-command.ts')).benchAllCommand(o, io, signal)))

  const trace = program.command('trace')
    .description('workload traces for the simulator (and replays): generate, import the Azure Functions 2019 trace, check')
    .addHelpText('after', TRACE_HELP)
  const writer = (c: Command) => c
    .option('--out <file>', 'write the trace to this file (default: stdout)')
    .option('--seed <n>', 'seed of the random streams (same seed, same trace)', int('--seed', -2147483648, 2147483647), 1)
    .option('--session <spec>', 'session lengths for the durationS column: constant:S, exponential:MEAN, lognormal:MEAN:SIGMA, uniform:MIN:MAX or none', 'exponential:600')
    .option('--users <n>', 'add a user column: user-1 ... user-N drawn at random (default: no user column)', int('--users', 1, 1_000_000))
  const gen = trace.command('gen').description('a synthetic trace: poisson, diurnal or bursty, deterministic given --seed')
  const genAction = (kind: 'poisson' | 'diurnal' | 'bursty') => async (o: Record<string, unknown>) =>
    done(await (await import('../sim/trace-command.ts')).traceGenCommand(kind, o as never, io))
  writer(gen.command('poisson'))
    .description('arrivals at a constant rate (a Poisson process)')
    .requiredOption('--rate <per-s>', 'arrivals per second', num('--rate', 0, true))
    .option('--duration <s>', 'length of the trace, seconds', num('--duration', 0, true), 3600)
    .action(genAction('poisson'))
  writer(gen.command('diurnal'))
    .description('a 24 h shape (cosine between trough and peak, or 24 hourly rates) compressed into --period seconds')
    .option('--peak-rate <per-s>', 'arrivals per second at the peak hour', num('--peak-rate', 0))
    .option('--trough-rate <per-s>', 'arrivals per second 12 h from the peak', num('--trough-rate', 0))
    .option('--hourly <rates>', '24 comma-separated rates (per second), hour 0 first, instead of peak/trough', numList('--hourly'))
    .option('--peak-hour <h>', 'hour of the peak (0-24)', num('--peak-hour', 0), 14)
    .option('--compress <x>', 'one day lasts 86400/x seconds (default 1: a real day)', num('--compress', 0, true))
    .option('--period <s>', 'one day lasts this many seconds (instead of --compress)', num('--period', 0, true))
    .option('--duration <s>', 'length of the trace, seconds (from hour 0 of the first day)', num('--duration', 0, true), 3600)
    .action(genAction('diurnal'))
  writer(gen.command('bursty'))
    .description('a constant base rate with periodic bursts on top')
    .requiredOption('--rate <per-s>', 'base arrivals per second', num('--rate', 0))
    .requiredOption('--burst-rate <per-s>', 'arrivals per second added during a burst', num('--burst-rate', 0))
    .requiredOption('--burst-every <s>', 'a burst starts every this many seconds', num('--burst-every', 0, true))
    .requiredOption('--burst-duration <s>', 'length of each burst, seconds', num('--burst-duration', 0, true))
    .option('--burst-offset <s>', 'start of the first burst, seconds', num('--burst-offset', 0), 0)
    .option('--duration <s>', 'length of the trace, seconds', num('--duration', 0, true), 3600)
    .action(genAction('bursty'))
  writer(trace.command('import-azure'))
    .description('arrivals from per-minute invocation counts of the Azure Functions 2019 trace (invocations_per_function_md.anon.dNN.csv)')
    .argument('<file>', 'a day of the dataset: HashOwner,HashApp,HashFunction,Trigger,1,...,1440')
    .option('--function <hash>', 'the row(s) with this HashFunction')
    .option('--top <n>', 'the sum of the N rows with the most invocations in the minute range', int('--top', 1, 1_000_000))
    .option('--all', 'the sum of every row')
    .option('--minutes <from-to>', 'minute range, 1-based and inclusive as in the header, e.g. 481-960 (default: the whole day)')
    .option('--scale <x>', 'multiply every minute\'s count (fractions carry to the next minute)', num('--scale', 0, true), 1)
    .addOption(new Option('--spread <how>', 'place a minute\'s arrivals evenly, or at uniform random times (a Poisson process given the count)').choices(['even', 'poisson']).default('poisson'))
    .action(async (file: string, o) => done(await (await import('../sim/trace-command.ts')).traceImportAzureCommand(file, o, io)))
  trace.command('info')
    .description('check a trace file and print its arrivals, rate, busiest minute, durations and users')
    .argument('<file>', 'trace CSV')
    .option('--start-at <iso>', 'the start that a time column is relative to', '2026-01-05T00:00:00Z')
    .option('--json', 'print JSON')
    .action(async (file: string, o) => done(await (await import('../sim/trace-command.ts')).traceInfoCommand(file, o, io)))

  program.command('replay')
    .description("drive a live gateway with a trace, time-compressed: each arrival creates a session, keeps its terminal open for its duration, ends it; prints the sim's JSON shape, measured")
    .argument('<trace>', 'trace CSV with a durationS column (infra-lab trace gen)')
    .option('--url <url>', 'gateway URL (env INFRA_LAB_URL)')
    .option('--key <key>', 'API key (env INFRA_LAB_API_KEY)')
    .option('--pool <name>', 'pool to create the sessions in', 'default')
    .option('--speed <x>', "divide the trace's times and durations by x (sandbox starts take what they take)", num('--speed', 0, true), 10)
    .option('--sample-ms <ms>', 'read the pool and /metrics this often', int('--sample-ms', 20, 60_000), 250)
    .option('--out <file>', 'write the JSON here instead of stdout (input of sim --starts-from)')
    .addHelpText('after', REPLAY_HELP)
    .action(async (file: string, o) => done(await (await import('../bench/replay-command.ts')).replayCommand(file, o, io, signal)))

  program.command('fidelity')
    .description('how well the simulator predicts the live gateway: three traces x the fixed, erlang and predictive policies, each replayed through a gateway it starts, then predicted with sim --starts-from; writes fidelity.md/.json/.svg')
    .option('--quick', 'a few dozen arrivals per trace: checks that the pipeline runs, not figures to publish')
    .option('--speed <x>', 'time compression of the replays (default 11; lower puts less load on the machine and takes longer: the planned duration is printed first)', num('--speed', 0, true))
    .addOption(new Option('--driver <name>', 'sandbox driver of the gateway it starts').choices(['local', 'fake']).default('local'))
    .option('--out <dir>', 'results directory', 'docs/results')
    .action(async (o) => done(await (await import('../bench/fidelity-command.ts')).fidelityCommand(o, io, signal)))

  program.command('sim')
    .description('capacity simulator: what a warm pool costs and buys (scenario file, --sweep, --results)')
    .argument('[scenario]', 'scenario JSON file (format below)')
    .option('--json', 'print exactly one JSON object')
    .option('--series', 'with --json: include the chart series')
    .option('--report <file>', 'write an HTML report with SVG charts')
    .option('--seed <n>', 'override the scenario seed', int('--seed', -2147483648, 2147483647))
    .option('--set <path=value>', 'override a field, e.g. policy.size=20 (repeatable)', collect, [])
    .option('--sweep <path=values>', 'sweep a field: 0..40, 0..40:5, a,b,c or a JSON array (repeatable: grid)', collect, [])
    .option('--target-p99-s <s>', 'with --sweep: recommend the cheapest point with p99 wait <= s', (v) => Number(v))
    .option('--workers <n>', 'worker threads for sweeps (default: cores)', int('--workers', 0, 64))
    .option('--results <dir>', 'run scenarios/ and the benchmark, write capacity.md/.json/.svg to dir')
    .option('--starts-from <replay.json>', "predict a replay (infra-lab replay --out): its pool's spec, its measured create times; needs --trace")
    .option('--trace <file>', 'with --starts-from: the trace that was replayed')
    .option('--speed <x>', "with --starts-from: divide the trace's times and durations by x (default: the replay's speed)", num('--speed', 0, true))
    .addOption(new Option('--worker').hideHelp())
    .addHelpText('after', SIM_HELP)
    .action(async (file: string | undefined, o) => done(await (await import('../sim/command.ts')).simCommand(file, o, io, signal)))

  return program
}
