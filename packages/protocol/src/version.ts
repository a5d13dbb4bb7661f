/**
 * Version of the gateway <-> agent protocol. Bump on any incompatible change.
 * 2: operations (exec, processes, files) in their own flow-controlled streams (docs/protocol.md).
 */
export const PROTOCOL_VERSION = 2
