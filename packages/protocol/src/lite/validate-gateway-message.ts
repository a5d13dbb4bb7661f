// Validation of gateway -> agent messages without zod, for the agent: zod costs ~5.5 MiB of
// memory in every warm sandbox. It accepts and rejects exactly what `gatewayMessageSchema`
// (messages.ts) does and returns the same parsed value; validate-gateway-message.test.ts holds
// the two to that. Change a schema there and this file with it.
//
// Error texts name the field, never its value: a value may be a secret.
import type { Claim, GatewayMessage } from '../messages.ts'
import { USER_NAME_PROBLEM, isValidUserName } from '../limits-core.ts'
import { Invalid, codePointLength, envMap, fail, int, isObject, string, type Fields } from './fields.ts'
import { isOpRequestType, opRequest } from './validate-op-request.ts'

export { isOpRequestType } from './validate-op-request.ts'

export type ParseGatewayMessageResult =
  | { readonly ok: true; readonly message: GatewayMessage }
  | { readonly ok: false; readonly error: string }

export function parseGatewayMessage(json: unknown): ParseGatewayMessageResult {
  try {
    return { ok: true, message: gatewayMessage(json) }
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, error: err.message }
    throw err
  }
}

function gatewayMessage(input: unknown): GatewayMessage {
  if (!isObject(input)) fail('(message)', 'expected an object')
  switch (input.type) {
    case 'claim':
      return claim(input)
    case 'resize':
      return { type: 'resize', cols: int(input, 'cols', 1, 1000), rows: int(input, 'rows', 1, 1000) }
    case 'snapshot':
      return { type: 'snapshot', requestId: int(input, 'requestId', 0) }
    case 'terminate':
      return { type: 'terminate' }
    case 'ping':
      return { type: 'ping', id: int(input, 'id') }
    default:
      if (isOpRequestType(input.type)) return opRequest(input)
      return fail('type', 'expected "claim", "resize", "snapshot", "terminate", "ping" or an operation')
  }
}

function claim(input: Fields): Claim {
  const sessionId = string(input, 'sessionId')
  const length = codePointLength(sessionId)
  if (length < 1 || length > 128) fail('sessionId', 'must be 1 to 128 characters')
  const user = string(input, 'user')
  if (!isValidUserName(user)) fail('user', USER_NAME_PROBLEM)
  const home = string(input, 'home')
  if (!home.startsWith('/')) fail('home', 'must start with "/"')
  const out: Claim = { type: 'claim', sessionId, user, home, env: envMap(input, 'env'), secrets: envMap(input, 'secrets') }
  // Optional keys as zod has them: undefined is accepted, and a present key stays present.
  for (const key of ['cols', 'rows'] as const) {
    if (input[key] !== undefined) out[key] = int(input, key, 1, 1000)
    else if (key in input) out[key] = undefined
  }
  return out
}

