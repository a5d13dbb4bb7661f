// @infra-lab/sdk: the TypeScript client of the Optima Infra Lab gateway (docs/api.md).
export { InfraLab, Pools, Sessions, Webhooks, type AuditOptions, type InfraLabOptions, type SessionList, type SessionListOptions } from './client.ts'
export { Keys } from './keys.ts'
export type { EventsOptions } from './events.ts'
export { Session } from './session.ts'
export { Files } from './files.ts'
export { Processes, type OutputOptions, type ProcessExit } from './processes.ts'
export {
  Terminal, type TerminalClose, type TerminalControlError, type TerminalExit, type TerminalExpiring, type TerminalOptions, type WebSocketConstructor,
} from './terminal.ts'
export type { ExecOptions, SpawnOptions } from './exec.ts'
export type { OutputHandlers, StreamedOutput } from './output-stream.ts'
export type { UploadData } from './upload-body.ts'
export { readSse, SseParser, type SseEvent } from './sse.ts'
export { BadResponseError, GatewayUnreachableError, InfraLabError, type ClientErrorCode, type ErrorDetail, type ErrorInit, type InfraLabErrorCode } from './errors.ts'
export * from './errors.generated.ts'
export type * from './types.ts'
export type { components as ApiComponents, paths as ApiPaths } from './api-types.generated.ts'
