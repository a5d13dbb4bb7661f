// Operation requests for the conformance test (validate-gateway-message.test.ts): hand-picked
// edge cases at every limit, and a seeded generator of valid and invalid requests.
import { MAX_EXEC_ARGS, MAX_EXEC_CMD_BYTES, MAX_EXEC_TIMEOUT_MS, MAX_OP_ID, MAX_PATH_BYTES } from '../ops-limits.ts'

const a = (n: number) => 'a'.repeat(n)
const exec = { type: 'exec', opId: 1, cmd: 'echo hi', cwd: 'src', env: { A: 'b' }, stdin: false, timeoutMs: 60_000, background: false, tty: false }
const withExec = (patch: Record<string, unknown>) => ({ ...exec, ...patch })
const without = (obj: Record<string, unknown>, key: string) => Object.fromEntries(Object.entries(obj).filter(([k]) => k !== key))
const WRONG: readonly unknown[] = [null, true, [], {}, '1', 1.5, undefined]

const requests: Record<string, Record<string, unknown>> = {
  list_processes: { type: 'list_processes', opId: 3 },
  process_output: { type: 'process_output', opId: 4, processId: 'proc-abc123', follow: true },
  process_stdin: { type: 'process_stdin', opId: 5, processId: 'proc-abc123', close: false },
  process_signal: { type: 'process_signal', opId: 6, processId: 'proc-abc123', signal: 'SIGTERM' },
  read_path: { type: 'read_path', opId: 7, path: '/etc/hostname' },
  write_file: { type: 'write_file', opId: 8, path: 'notes/a.txt' },
  remove_path: { type: 'remove_path', opId: 9, path: 'tmp', recursive: true },
  cancel: { type: 'cancel', opId: 10 },
}

export const opCorpus: Array<[string, unknown]> = [
  ['a valid exec', exec],
  ['an exec without cwd', without(exec, 'cwd')],
  ['an exec with cwd undefined', withExec({ cwd: undefined })],
  ...(['opId', 'cmd', 'env', 'stdin', 'timeoutMs', 'background', 'tty'] as const).map((k): [string, unknown] => [`exec without ${k}`, without(exec, k)]),
  ...([0, 1, MAX_OP_ID, MAX_OP_ID + 1, -1, 1.5, '1', null, 2 ** 53] as unknown[]).map((opId): [string, unknown] => [`exec opId ${String(opId)}`, withExec({ opId })]),
  ...([
    'x', '', 'a\0b', a(MAX_EXEC_CMD_BYTES), a(MAX_EXEC_CMD_BYTES + 1), 'é'.repeat(MAX_EXEC_CMD_BYTES / 2), `${'é'.repeat(MAX_EXEC_CMD_BYTES / 2)}a`,
    ['ls'], ['ls', '-l', ''], [''], [], ['a\0'], ['ls', 5], [null], Array.from({ length: MAX_EXEC_ARGS }, () => 'x'),
    Array.from({ length: MAX_EXEC_ARGS + 1 }, () => 'x'), [a(MAX_EXEC_CMD_BYTES / 2), a(MAX_EXEC_CMD_BYTES / 2)],
    [a(MAX_EXEC_CMD_BYTES / 2), a(MAX_EXEC_CMD_BYTES / 2 + 1)], 5, null, { 0: 'ls' },
  ] as unknown[]).map((cmd, i): [string, unknown] => [`exec cmd #${i}`, withExec({ cmd })]),
  ...(['/', 'a', '', 'a\0b', a(MAX_PATH_BYTES), a(MAX_PATH_BYTES + 1), 'é'.repeat(MAX_PATH_BYTES / 2), `é${'é'.repeat(MAX_PATH_BYTES / 2)}`, 5, null] as unknown[])
    .map((cwd, i): [string, unknown] => [`exec cwd #${i}`, withExec({ cwd })]),
  ...([{}, { PATH: '/x' }, { HOME: '/' }, { LD_PRELOAD: 'x' }, { INFRA_LAB_SESSION_ID: 'x' }, { A: 'x\0' }, { '1A': 'x' }, { A: 5 }, null, []] as unknown[])
    .map((env, i): [string, unknown] => [`exec env #${i}`, withExec({ env })]),
  ...([0, 1, MAX_EXEC_TIMEOUT_MS, MAX_EXEC_TIMEOUT_MS + 1, -1, 0.5, '60'] as unknown[]).map((t): [string, unknown] => [`exec timeoutMs ${String(t)}`, withExec({ timeoutMs: t })]),
  ...(['stdin', 'background', 'tty'] as const).flatMap((k) => ([true, false, 0, 1, 'true', null] as unknown[]).map((v): [string, unknown] => [`exec ${k} ${String(v)}`, withExec({ [k]: v })])),
  ['exec with extra keys', withExec({ extra: 1, processId: 'x' })],
  ...Object.entries(requests).flatMap(([type, req]): Array<[string, unknown]> => [
    [`a valid ${type}`, req],
    [`${type} with extra keys`, { ...req, extra: 'x' }],
    ...Object.keys(req).filter((k) => k !== 'type').map((k): [string, unknown] => [`${type} without ${k}`, without(req, k)]),
    ...Object.keys(req).filter((k) => k !== 'type').flatMap((k) => WRONG.map((v, i): [string, unknown] => [`${type} ${k} wrong #${i}`, { ...req, [k]: v }])),
  ]),
  ...(['proc-a', 'proc-', 'proc-ABC', `proc-${a(32)}`, `proc-${a(33)}`, 'proc-a/b', 'x-abc', ' proc-a', 'proc-a\n'] as unknown[])
    .map((processId, i): [string, unknown] => [`signal processId #${i}`, { ...requests.process_signal, processId }]),
  ...(['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGSTOP', 'sigterm', 'TERM', 15] as unknown[])
    .map((signal): [string, unknown] => [`signal ${String(signal)}`, { ...requests.process_signal, signal }]),
  ...(['', 'a\0', a(MAX_PATH_BYTES), a(MAX_PATH_BYTES + 1), '../..', '🦀'.repeat(MAX_PATH_BYTES / 4), `${'🦀'.repeat(MAX_PATH_BYTES / 4)}a`] as unknown[])
    .map((path, i): [string, unknown] => [`read_path path #${i}`, { ...requests.read_path, path }]),
]

type Random = () => number
const pick = <T>(random: Random, xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!

const VALUES: Record<string, readonly unknown[]> = {
  opId: [1, 2, 77, MAX_OP_ID, 0, MAX_OP_ID + 1, -1, 1.5],
  cmd: ['ls', 'echo "$HOME"', ['ls', '-la'], [''], [], '', 'a\0', [5]],
  cwd: ['/', 'src', '', 'a\0', undefined],
  env: [{}, { A: 'b' }, { HOME: '/' }, { A: 1 }],
  stdin: [true, false, 1],
  timeoutMs: [0, 1000, MAX_EXEC_TIMEOUT_MS, MAX_EXEC_TIMEOUT_MS + 1, -5],
  background: [true, false, 'no'],
  tty: [true, false, null],
  processId: ['proc-abc', 'proc-0', 'proc-', 'PROC-a', 7],
  follow: [true, false, 0],
  close: [true, false, 'yes'],
  signal: ['SIGTERM', 'SIGKILL', 'SIGINT', 'SIGHUP', 'SIGUSR1'],
  path: ['/tmp/x', 'a/b', '', 'a\0b'],
  recursive: [true, false, 1],
}
const FIELDS: Record<string, readonly string[]> = {
  exec: ['opId', 'cmd', 'cwd', 'env', 'stdin', 'timeoutMs', 'background', 'tty'],
  ...Object.fromEntries(Object.entries(requests).map(([type, req]) => [type, Object.keys(req).filter((k) => k !== 'type')])),
}

/** A request of a random operation type, each field mostly valid (first values of each list). */
export function randomOpRequest(random: Random): Record<string, unknown> {
  const type = pick(random, Object.keys(FIELDS))
  const message: Record<string, unknown> = { type }
  for (const field of FIELDS[type]!) {
    if (random() < 0.03) continue
    const values = VALUES[field]!
    const good = values.filter((_, i) => i < Math.ceil(values.length / 2))
    message[field] = random() < 0.9 ? pick(random, good) : pick(random, values)
  }
  if (random() < 0.1) message[pick(random, ['extra', 'opId', 'path'])] = pick(random, [1, 'x', null])
  return message
}
