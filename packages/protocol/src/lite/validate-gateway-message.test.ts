// Conformance: the zod-free validator accepts and rejects exactly what gatewayMessageSchema
// does, and parses to the same value, over hand-picked edge cases and seeded random messages.
import { describe, expect, it } from 'vitest'
import { MAX_ENV_TOTAL_BYTES, MAX_ENV_VALUE_BYTES, MAX_ENV_VARS, RESERVED_ENV_NAMES, RESERVED_ENV_PREFIXES, RESERVED_ENV_PROBLEM } from '../limits-core.ts'
import { gatewayMessageSchema } from '../messages.ts'
import { opCorpus, randomOpRequest } from './op-corpus.test-util.ts'
import { parseGatewayMessage } from './validate-gateway-message.ts'

function expectAgreement(input: unknown, label: string): boolean {
  const expected = gatewayMessageSchema.safeParse(input)
  const actual = parseGatewayMessage(input)
  expect(actual.ok, `${label}: zod says ${expected.success ? 'valid' : expected.error.issues[0]?.message}`).toBe(expected.success)
  if (actual.ok && expected.success) {
    expect(actual.message, label).toStrictEqual(expected.data)
    expect(JSON.stringify(actual.message), `${label}: key order`).toBe(JSON.stringify(expected.data))
  }
  return expected.success
}

const claim = {
  type: 'claim', sessionId: 'sess-1', user: 'alice', home: '/home/alice',
  env: { FOO: 'bar', EMPTY: '' }, secrets: { API_TOKEN: 'sk-1' }, cols: 80, rows: 24,
}
const withClaim = (patch: Record<string, unknown>) => ({ ...claim, ...patch })
const without = (obj: Record<string, unknown>, key: string) => Object.fromEntries(Object.entries(obj).filter(([k]) => k !== key))
const vars = (n: number, value = 'v') => Object.fromEntries(Array.from({ length: n }, (_, i) => [`V${i}`, value]))
const a = (n: number) => 'a'.repeat(n)
class Bag {
  A = 'b'
}

const RESERVED_PREFIXED = RESERVED_ENV_PREFIXES.flatMap((p) => [p, `${p}SESSION_ID`, `${p}X`])
/** Names beside reserved ones that a claim may set. */
const ALLOWED_NEAR_RESERVED = ['PATH', 'LD_LIBRARY_PATH', 'NODE_ENV', 'AWS_REGION', 'INFRA_LAB', 'infra_lab_x', 'LD_PRELOAD_X', 'ENV_X', 'ifs']

/** Limits at and just past their boundary, in both maps. */
function envCases(field: 'env' | 'secrets'): Array<[string, unknown]> {
  const full = a(MAX_ENV_VALUE_BYTES)
  const lastValueBytes = MAX_ENV_TOTAL_BYTES - 3 * MAX_ENV_VALUE_BYTES - 4
  const cases: Array<[string, Record<string, unknown> | unknown]> = [
    ['empty', {}],
    ['lowercase home is not reserved', { home: '/x' }],
    ['name of 128 chars', { [`A${a(127)}`]: 'v' }],
    ['name of 129 chars', { [`A${a(128)}`]: 'v' }],
    ['name starting with a digit', { '1A': 'v' }],
    ['name with a dash', { 'A-B': 'v' }],
    ['empty name', { '': 'v' }],
    ['non-ASCII name', { 'É': 'v' }],
    ['underscore name', { _: 'v' }],
    ['value with NUL', { A: 'x\0y' }],
    ['value of exactly the byte limit', { A: a(MAX_ENV_VALUE_BYTES) }],
    ['value one byte past the limit', { A: a(MAX_ENV_VALUE_BYTES + 1) }],
    ['2-byte chars at the byte limit', { A: 'é'.repeat(MAX_ENV_VALUE_BYTES / 2) }],
    ['2-byte chars one byte past', { A: `${'é'.repeat(MAX_ENV_VALUE_BYTES / 2)}a` }],
    ['lone surrogate counted as 3 bytes', { A: `${a(MAX_ENV_VALUE_BYTES - 3)}\ud800` }],
    ['lone surrogate one byte past', { A: `${a(MAX_ENV_VALUE_BYTES - 2)}\ud800` }],
    ['emoji value', { A: '🦀'.repeat(100) }],
    ['exactly the max count', vars(MAX_ENV_VARS)],
    ['one past the max count', vars(MAX_ENV_VARS + 1)],
    // Names count towards the total: four 1-char names + values of (total - 4) bytes is the limit.
    ['total at the limit', { A: full, B: full, C: full, D: a(lastValueBytes) }],
    ['total one byte past', { A: full, B: full, C: full, D: a(lastValueBytes + 1) }],
    ['total one byte past by a longer name', { AB: full, B: full, C: full, D: a(lastValueBytes) }],
    ['total at the limit in 2-byte chars', { A: full, B: full, C: full, D: 'é'.repeat(lastValueBytes / 2) }],
    ['number value', { A: 1 }],
    ['null value', { A: null }],
    ['undefined value', { A: undefined }],
    ['object value', { A: { B: 'c' } }],
    ['array value', { A: ['b'] }],
    ['names that live on Object.prototype', { constructor: 'c', toString: 't', hasOwnProperty: 'h', valueOf: 'v' }],
    ['constructor name with an object value', { constructor: {} }],
    ['null-prototype map', Object.assign(Object.create(null), { A: 'b' })],
    ['class instance', new Bag()],
    ['Map', new Map([['A', 'b']])],
    ['Date', new Date(0)],
    ['array', ['A']],
    ['string', 'A=b'],
    ['null', null],
    ['symbol key', { [Symbol('s')]: 'v', A: 'b' }],
    ['non-enumerable key', Object.defineProperty({ A: 'b' }, 'B', { value: 1, enumerable: false })],
    ['own __proto__ with a string', JSON.parse('{"A":"b","__proto__":"x"}')],
    ['own __proto__ with a number', JSON.parse('{"__proto__":5}')],
    ['own __proto__ with an object', JSON.parse('{"__proto__":{"HOME":"/"}}')],
    ['own __proto__ beside the max count', { ...vars(MAX_ENV_VARS), ...JSON.parse('{"__proto__":"x"}') }],
  ]
  for (const name of [...RESERVED_ENV_NAMES, ...RESERVED_PREFIXED]) cases.push([`reserved ${name}`, { [name]: 'x' }])
  for (const name of ALLOWED_NEAR_RESERVED) cases.push([`allowed ${name}`, { [name]: 'x' }])
  return cases.map(([label, map]) => [`${field}: ${label}`, withClaim({ [field]: map })])
}

const corpus: Array<[string, unknown]> = [
  // not objects
  ...([undefined, null, 0, 1, 'claim', true, [], [claim], () => claim, Symbol('x')] as unknown[]).map((v, i): [string, unknown] => [`non-object #${i}`, v]),
  ['an array that looks like a ping', Object.assign([], { type: 'ping', id: 1 })],
  ['a Date carrying a ping', Object.assign(new Date(0), { type: 'ping', id: 1 })],
  ['a null-prototype ping', Object.assign(Object.create(null), { type: 'ping', id: 1 })],
  ['an inherited type', Object.create({ type: 'ping', id: 1 })],
  // the discriminator
  ['no type', { id: 1 }],
  ['unknown type', { type: 'launch-missiles' }],
  ['type in capitals', { type: 'PING', id: 1 }],
  ['type with a space', { type: ' ping', id: 1 }],
  ['numeric type', { type: 1 }],
  ['null type', { type: null }],
  ['hello is agent -> gateway only', { type: 'hello' }],
  // ping
  ...([0, 1, -1, -0, 1.5, '1', null, undefined, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1,
    Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER - 1, 1e21, 2 ** 53] as unknown[]).map((id): [string, unknown] => [`ping id ${String(id)}`, { type: 'ping', id }]),
  ['ping without id', { type: 'ping' }],
  ['ping with extra keys', { type: 'ping', id: 2, extra: 'x', cols: 5 }],
  ['ping with an own __proto__', JSON.parse('{"type":"ping","id":3,"__proto__":{"id":"x"}}')],
  // snapshot
  ...([0, -0, -1, 1.5, 2 ** 32, Number.MAX_SAFE_INTEGER, '0', null] as unknown[]).map((requestId): [string, unknown] => [`snapshot requestId ${String(requestId)}`, { type: 'snapshot', requestId }]),
  ['snapshot without requestId', { type: 'snapshot' }],
  // terminate
  ['terminate', { type: 'terminate' }],
  ['terminate with extra keys', { type: 'terminate', id: 'x', sessionId: 5 }],
  // resize
  ...([0, 1, 2, 999, 1000, 1001, -1, 80.5, '80', null, undefined] as unknown[]).flatMap((n): Array<[string, unknown]> => [
    [`resize cols ${String(n)}`, { type: 'resize', cols: n, rows: 24 }],
    [`resize rows ${String(n)}`, { type: 'resize', cols: 80, rows: n }],
  ]),
  ['resize without rows', { type: 'resize', cols: 80 }],
  ['resize with extra keys', { type: 'resize', cols: 80, rows: 24, requestId: 1 }],
  // claim
  ['a valid claim', claim],
  ['a claim without cols and rows', without(without(claim, 'cols'), 'rows')],
  ['a claim with cols and rows undefined', withClaim({ cols: undefined, rows: undefined })],
  ...(['sessionId', 'user', 'home', 'env', 'secrets', 'type'] as const).map((k): [string, unknown] => [`claim without ${k}`, without(claim, k)]),
  ...(['sessionId', 'user', 'home', 'env', 'secrets'] as const).map((k): [string, unknown] => [`claim with ${k} null`, withClaim({ [k]: null })]),
  ['claim with extra keys', withClaim({ extra: 1, nested: { a: 1 }, id: 'x' })],
  ['claim with an own __proto__', JSON.parse(`{"__proto__":{"cols":0},${JSON.stringify(claim).slice(1)}`)],
  ...([0, 1, 1000, 1001, 80.5, null, '80', NaN] as unknown[]).flatMap((n): Array<[string, unknown]> => [
    [`claim cols ${String(n)}`, withClaim({ cols: n })],
    [`claim rows ${String(n)}`, withClaim({ rows: n })],
  ]),
  // zod counts string lengths in code points: a surrogate pair is one, a lone surrogate one too.
  ...(['', 'x', a(128), a(129), '🦀'.repeat(64), '🦀'.repeat(65), '🦀'.repeat(128), '🦀'.repeat(129), `${a(127)}🦀`, `${a(128)}🦀`,
    '\ud800'.repeat(128), '\ud800'.repeat(129), '\udc00\ud800'.repeat(64), `${'\udc00\ud800'.repeat(64)}a`, `${a(127)}\ud83e`,
    'é'.repeat(128), 'e\u0301'.repeat(64), 'e\u0301'.repeat(65), 5] as unknown[]).map((sessionId, i): [string, unknown] => [`claim sessionId #${i}`, withClaim({ sessionId })]),
  ...(['alice', '', '.', '..', '...', '.a', '..a', '.uids', 'a..', '-', '_', '-y', '_x', 'alice.b', 'a.b-c_D9', a(64), a(65), 'élodie', 'ålice', 'a b', 'a/b', '../root',
    'alice\n', '\nalice', 'al\0ice', '🦀', 'ａｌｉｃｅ', 5, null] as unknown[]).map((user): [string, unknown] => [`claim user ${JSON.stringify(user)}`, withClaim({ user })]),
  ...(['/', '', 'relative', '//x', ' /x', '/home/é', 5] as unknown[]).map((home): [string, unknown] => [`claim home ${JSON.stringify(home)}`, withClaim({ home })]),
  ...envCases('env'),
  ...envCases('secrets'),
  ['the agent test\'s bad claim', { type: 'claim', sessionId: 'x', user: '../root', home: 'relative', env: { HOME: '/' }, secrets: {} }],
  ...opCorpus,
]

describe('parseGatewayMessage agrees with gatewayMessageSchema', () => {
  it.each(corpus)('%s', (label, input) => {
    expectAgreement(input, label)
  })

  it('on the same input after a JSON round trip, for every hand-picked case JSON can carry', () => {
    for (const [label, input] of corpus) {
      const text = JSON.stringify(input)
      if (text !== undefined) expectAgreement(JSON.parse(text), `${label} (JSON)`)
    }
  })

  it('on 1000 random operation requests from a seeded generator, valid and invalid in fair numbers', () => {
    const random = mulberry32(0x0905)
    let valid = 0
    for (let i = 0; i < 1000; i++) {
      const message = randomOpRequest(random)
      if (expectAgreement(message, `random op #${i}: ${JSON.stringify(message).slice(0, 300)}`)) valid++
    }
    expect(valid).toBeGreaterThan(200)
    expect(valid).toBeLessThan(800)
  })

  it('on 500 random messages from a seeded generator, valid and invalid in fair numbers', () => {
    const random = mulberry32(0x5eed)
    let valid = 0
    for (let i = 0; i < 500; i++) {
      const message = randomMessage(random)
      if (expectAgreement(message, `random #${i}: ${JSON.stringify(message).slice(0, 300)}`)) valid++
    }
    expect(valid).toBeGreaterThan(100)
    expect(valid).toBeLessThan(400)
  })
})

describe('parseGatewayMessage errors', () => {
  it('name the field but never the value, which may be a secret', () => {
    const result = parseGatewayMessage(withClaim({ secrets: { TOKEN: 'sk-live\0secret' } }))
    expect(result).toEqual({ ok: false, error: 'secrets.TOKEN: must not contain NUL bytes' })
  })

  it('refuse the reserved names in env and secrets, naming the field, and let PATH, LD_LIBRARY_PATH and NODE_ENV through', () => {
    for (const name of ['LD_PRELOAD', 'LD_AUDIT', 'BASH_ENV', 'ENV', 'PROMPT_COMMAND', 'IFS', 'INFRA_LAB_SESSION_ID', 'INFRA_LAB_ANY', 'AGENT_TLS_PSK', 'HOME']) {
      for (const field of ['env', 'secrets'] as const) {
        const result = parseGatewayMessage(withClaim({ [field]: { [name]: 'x' } }))
        expect(result, `${field}.${name}`).toEqual({ ok: false, error: `${field}.${name}: ${RESERVED_ENV_PROBLEM}` })
      }
    }
    expect(parseGatewayMessage(withClaim({ env: { PATH: '/x', LD_LIBRARY_PATH: '/y', NODE_ENV: 'production', AWS_REGION: 'eu-west-1' } })).ok).toBe(true)
  })

  it('say what was expected of a message that is not an object', () => {
    expect(parseGatewayMessage('ping')).toEqual({ ok: false, error: '(message): expected an object' })
  })
})

// ---- seeded generator ----------------------------------------------------------------------

type Random = () => number

/** A small seeded PRNG (mulberry32): the same seed gives the same messages on every run. */
function mulberry32(seed: number): Random {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const pick = <T>(random: Random, xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
const chance = (random: Random, p: number) => random() < p

const WRONG_TYPES: readonly unknown[] = [null, true, [], {}, '1', 1.5]
const INTS: readonly unknown[] = [0, 1, 2, 24, 80, 999, 1000, 1001, -1, -0, 0.5, Number.MAX_SAFE_INTEGER, 2 ** 53, ...WRONG_TYPES]
const USERS: readonly unknown[] = ['alice', 'bob.smith', 'a_b-c', '-y', '.', '..', '.x', a(64), a(65), '', 'é', 'a b', ...WRONG_TYPES]
const HOMES: readonly unknown[] = ['/home/alice', '/', 'home', '', ...WRONG_TYPES]
const SESSION_IDS: readonly unknown[] = ['s', 'sess-42', a(128), a(129), '🦀'.repeat(65), '🦀'.repeat(129), '', ...WRONG_TYPES]
const NAME_CHARS = 'ABCXYZabcxyz019_'

function randomName(random: Random): string {
  if (chance(random, 0.1)) return pick(random, [...RESERVED_ENV_NAMES, ...RESERVED_PREFIXED, '1A', 'A-B', '', 'É', A128, A129, 'constructor', '__proto__'])
  const first = pick(random, [...'ABCXYZabc_'])
  let rest = ''
  for (let n = Math.floor(random() * 12); n > 0; n--) rest += pick(random, [...NAME_CHARS])
  return first + rest
}
const A128 = `A${a(127)}`
const A129 = `A${a(128)}`

function randomValue(random: Random): unknown {
  const r = random()
  if (r < 0.6) return a(Math.floor(random() * 20))
  if (r < 0.7) return pick(random, [a(MAX_ENV_VALUE_BYTES), a(MAX_ENV_VALUE_BYTES + 1), 'é'.repeat(MAX_ENV_VALUE_BYTES / 2), `é${'é'.repeat(MAX_ENV_VALUE_BYTES / 2)}`])
  if (r < 0.75) return 'x\0y'
  if (r < 0.85) return pick(random, ['€uro', '🦀', "it's \"quoted\" $HOME `x`\n", '\ud800'])
  return pick(random, WRONG_TYPES)
}

function randomEnv(random: Random): unknown {
  if (chance(random, 0.05)) return pick(random, WRONG_TYPES)
  const count = chance(random, 0.85) ? Math.floor(random() * 5) : pick(random, [MAX_ENV_VARS - 1, MAX_ENV_VARS, MAX_ENV_VARS + 1])
  const clean = count > 5 || chance(random, 0.5) // mostly valid maps, so the limits decide
  const map: Record<string, unknown> = {}
  for (let i = 0; i < count; i++) {
    if (clean) map[`V${i}_${Math.floor(random() * 1000)}`] = a(Math.floor(random() * 8))
    else map[randomName(random)] = randomValue(random)
  }
  if (!chance(random, 0.05)) return map
  // An own `__proto__` key, as JSON.parse makes it (an assignment would set the prototype).
  const rest = JSON.stringify(map).slice(1)
  return JSON.parse(`{"__proto__":${JSON.stringify(randomValue(random))}${rest === '}' ? '' : ','}${rest}`)
}

function randomMessage(random: Random): unknown {
  if (chance(random, 0.03)) return pick(random, WRONG_TYPES)
  const type = pick(random, ['claim', 'claim', 'claim', 'claim', 'resize', 'snapshot', 'terminate', 'ping', 'pong', undefined])
  const message: Record<string, unknown> = {}
  if (type !== undefined) message.type = type
  const valid = chance(random, 0.6) // a valid-looking value for each field, most of the time
  const value = (good: unknown, pool: readonly unknown[]) => (valid && chance(random, 0.9) ? good : pick(random, pool))
  const set = (key: string, v: unknown, optional = false) => {
    if (chance(random, optional ? 0.4 : 0.05)) return
    message[key] = v
  }
  if (type === 'claim') {
    set('sessionId', value(`sess-${Math.floor(random() * 100)}`, SESSION_IDS))
    set('user', value('alice', USERS))
    set('home', value('/home/alice', HOMES))
    set('env', randomEnv(random))
    set('secrets', randomEnv(random))
    set('cols', value(80, INTS), true)
    set('rows', value(24, INTS), true)
  } else if (type === 'resize') {
    set('cols', value(100, INTS))
    set('rows', value(30, INTS))
  } else if (type === 'snapshot') {
    set('requestId', value(Math.floor(random() * 10), INTS))
  } else if (type === 'ping') {
    set('id', value(Math.floor(random() * 1e6), INTS))
  }
  if (chance(random, 0.15)) message[pick(random, ['extra', 'id', 'cols', 'requestId', 'sessionId'])] = pick(random, [1, 'x', null])
  return message
}
